"""The rich console every stage prints through (the library's progress and the CLI's tables)."""

from __future__ import annotations

import shutil
import sys
from typing import Any


def console(*, stderr: bool = False) -> Any:
    """A rich console that keeps tables readable when output is piped (no 80-column squeeze).

    ``stderr=True`` for progress and tables when stdout carries machine-readable output (``--json``).
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else max(160, shutil.get_terminal_size((160, 24)).columns)
    return Console(width=width, stderr=stderr)
