"""The rich console every stage prints through (the library's progress and the CLI's tables)."""

from __future__ import annotations

import shutil
import sys
from typing import Any


def console() -> Any:
    """A rich console that keeps tables readable when output is piped (no 80-column squeeze)."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else max(160, shutil.get_terminal_size((160, 24)).columns)
    return Console(width=width)
