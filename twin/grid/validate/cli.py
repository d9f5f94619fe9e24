"""``twin validate MODEL [--json]``: print the validation report, exit 1 when it has errors."""

from __future__ import annotations

import sys
from typing import TextIO

from twin.grid.validate import validate_path

__all__ = ["validate_command"]


def validate_command(path: str, *, as_json: bool, out: TextIO | None = None) -> int:
    """Validate the model at ``path`` and print the report as text or JSON; 1 with errors, else 0."""
    report = validate_path(path)
    print(report.to_json() if as_json else report.text(), file=out or sys.stdout)
    return 1 if report.n_errors else 0
