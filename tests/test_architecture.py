"""Dependencies point one way: twin.grid is pure, and nothing in the model imports the world."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "twin"
FORBIDDEN_IN_GRID = ("simpy", "pygame", "faker", "twin.world", "twin.idms", "twin.field_devices",
                     "twin.meters", "twin.callers", "twin.instructor")


def imports_of(path: Path) -> set[str]:
    """Absolute module names imported anywhere in a file (function-level imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "grid").rglob("*.py")), ids=lambda p: p.name)
def test_grid_is_pure(path: Path) -> None:
    bad = {m for m in imports_of(path) for f in FORBIDDEN_IN_GRID if m == f or m.startswith(f + ".")}
    assert not bad, f"{path.relative_to(ROOT.parent)} imports {sorted(bad)}: twin.grid must stay pure"


def test_the_rule_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import simpy\n    from twin.world import territory\n")
    assert {"simpy", "twin.world"} <= imports_of(bad)


FORBIDDEN_IN_IDMS = ("simpy", "faker", "twin.world", "twin.meters", "twin.callers", "twin.field_devices",
                     "twin.instructor")


@pytest.mark.parametrize("path", sorted((ROOT / "idms").rglob("*.py")), ids=lambda p: p.name)
def test_idms_sees_the_world_only_through_its_interfaces(path: Path) -> None:
    bad = {m for m in imports_of(path) for f in FORBIDDEN_IN_IDMS if m == f or m.startswith(f + ".")}
    assert not bad, (f"{path.relative_to(ROOT.parent)} imports {sorted(bad)}: the IDMS reaches the world "
                     "only through twin.idms.interfaces, so that it runs unchanged on real devices")
