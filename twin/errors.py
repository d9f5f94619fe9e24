"""Twin's exception types.

Every failure Twin raises on purpose is a :class:`TwinError`. Subclasses carry the data that
describes what went wrong as attributes, so callers decide what happened from those attributes,
never by matching message text.
"""

from __future__ import annotations

__all__ = ["TwinError", "ModelError", "ParseError", "NotConverged"]


class TwinError(Exception):
    """Base class of every error Twin raises on purpose."""


class ModelError(TwinError):
    """A network model is inconsistent or refers to something that does not exist.

    ``component`` is the table (``"line"``, ``"bus"``...), ``element`` the id of the offending row,
    ``field`` the column, and ``fix`` a one-line hint for the engineer.
    """

    def __init__(
        self,
        message: str,
        *,
        component: str = "",
        element: str = "",
        field: str = "",
        fix: str = "",
    ) -> None:
        self.message = message
        self.component = component
        self.element = element
        self.field = field
        self.fix = fix
        where = f"{component} {element}".strip()
        text = f"{where}: {message}" if where else message
        if fix:
            text = f"{text} ({fix})"
        super().__init__(text)


class ParseError(ModelError):
    """A model file could not be read: carries the file, 1-based line number and element."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int,
        element: str = "",
        fix: str = "",
        component: str = "",
        field: str = "",
    ) -> None:
        self.file = file
        self.line = line
        super().__init__(message, component=component, element=element, field=field, fix=fix)
        where = f"{file}:{line}"
        if element:
            where = f"{where}: {element}"
        self.args = (f"{where}: {message}" + (f" ({fix})" if fix else ""),)


class NotConverged(TwinError):
    """An iterative calculation (power flow) did not converge.

    ``iterations`` run, ``worst_bus`` the bus id with the largest last voltage change, and
    ``mismatch`` that change in per unit of the bus's base.
    """

    def __init__(self, *, iterations: int, worst_bus: str, mismatch: float) -> None:
        self.iterations = iterations
        self.worst_bus = worst_bus
        self.mismatch = mismatch
        super().__init__(f"no convergence after {iterations} iterations: worst bus {worst_bus}, "
                         f"voltage change {mismatch:.3g} pu")
