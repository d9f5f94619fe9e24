"""Load a network model from whatever the user points at: an OpenDSS master file or a native folder."""

from __future__ import annotations

from pathlib import Path

from twin.errors import ModelError
from twin.grid.network import Network

__all__ = ["load_model"]


def load_model(path: str | Path) -> Network:
    """Read an OpenDSS master file (``*.dss``) or a native model folder (holding ``network.yaml``)."""
    p = Path(path)
    if p.is_dir():
        if (p / "network.yaml").exists():
            from twin.grid.native import load_native

            return load_native(p)
        raise ModelError(
            f"{p} is a folder without network.yaml",
            fix="give a native model folder (made by 'twin generate') or an OpenDSS master .dss file",
        )
    if not p.exists():
        raise ModelError(f"{p} does not exist", fix="check the path")
    if p.suffix.lower() == ".dss":
        from twin.grid.opendss import load_opendss

        return load_opendss(p)
    if p.name == "network.yaml":
        from twin.grid.native import load_native

        return load_native(p.parent)
    raise ModelError(
        f"{p}: cannot tell the model format from the name",
        fix="give an OpenDSS master file ending in .dss or a native model folder",
    )
