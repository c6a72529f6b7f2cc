"""Run plumbing shared by every stage, written once: results folders, the settings fingerprint,
the stop mechanism, the Ray session and the console."""
