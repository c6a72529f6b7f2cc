"""One exception type for everything a user can get wrong.

The CLI turns a :class:`SpecError` (or any :class:`EffsearchError`) into a single line on stderr and
a non-zero exit, so messages are written to stand alone: what is wrong, and what to do about it.
"""

from __future__ import annotations


class EffsearchError(Exception):
    """A user-facing error; its message is one line that says what is wrong and what to do."""


class SpecError(EffsearchError, ValueError):
    """An architecture spec, block string or spec file is malformed or invalid."""


class DataError(EffsearchError):
    """A data set is missing, corrupt, or not in the expected layout."""
