"""Review: pure analysis of results (:mod:`~effsearch.review.analysis`), the dashboard and the report."""
