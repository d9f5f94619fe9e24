"""Import OpenDSS circuit scripts (``.dss``) into a Twin :class:`~twin.grid.network.Network`.

>>> net = load_opendss("../shared/feeders/13bus/ieee13nodeckt.dss")  # doctest: +SKIP
>>> net.summary()["loads"]  # doctest: +SKIP
15

The importer reads the language subset the IEEE test feeders and most utility exports use:
``Clear``, ``New``, ``Edit``, ``~``/``More``, ``Class.name.property=value``, ``Redirect`` and
``Compile``, ``Set voltagebases=[...]``, ``CalcVoltageBases``, ``Solve``, ``BusCoords``, ``Open``,
``Close``, ``Enable``, ``Disable``; comments ``!``, ``//`` and ``/* ... */``; positional and
abbreviated property names; ``like=``; in-line RPN arithmetic and array syntax. Other commands
(``Show``, ``Plot``, ``Export``...) and non-equipment objects (``EnergyMeter``, ``LoadShape``...)
are skipped with a line in ``Network.notes``.

Modules, in the order a script goes through them:

* :mod:`~twin.grid.opendss.lexer`: lines into commands, redirects followed;
  :mod:`~twin.grid.opendss.rpn`: numbers, RPN, arrays, matrices;
* :mod:`~twin.grid.opendss.script`: commands into objects and their assignments, against the
  classes and properties of :mod:`~twin.grid.opendss.classes`;
* :mod:`~twin.grid.opendss.build`: objects into tables, the steps in order (read its docstring for
  how each OpenDSS class maps onto Twin's tables), one module per group of classes:
  :mod:`~twin.grid.opendss.sources`, :mod:`~twin.grid.opendss.linecodes`,
  :mod:`~twin.grid.opendss.lines`, :mod:`~twin.grid.opendss.transformers`,
  :mod:`~twin.grid.opendss.shunts`, :mod:`~twin.grid.opendss.protection`, and
  :mod:`~twin.grid.opendss.buses` (phases, split-phase buses, nominal voltages), all reading values
  with :mod:`~twin.grid.opendss.values`.

Anything that cannot be read raises :class:`~twin.errors.ParseError` with the file, the line
and the element (``Line.650632``), the first one met.
"""

from __future__ import annotations

from pathlib import Path

from twin.errors import ModelError
from twin.grid.network import Network
from twin.grid.opendss.build import to_network
from twin.grid.opendss.export import save_opendss, to_dss_lines
from twin.grid.opendss.lexer import read_script
from twin.grid.opendss.script import interpret
from twin.grid.topology import serving_transformers

__all__ = ["load_opendss", "save_opendss", "to_dss_lines"]


def load_opendss(path: str | Path, *, unitless_length: str = "kft") -> Network:
    """The network an OpenDSS master script defines.

    ``unitless_length`` is the unit assumed for line lengths and line codes that state none
    (OpenDSS only multiplies them); ``"kft"`` suits the IEEE test feeders.
    """
    path = Path(path).resolve()
    script = interpret(read_script(path))
    net = to_network(script, name=script.circuit or path.stem, origin=str(path),
                     unitless_length=unitless_length)
    return _attach_customers(net)


def _attach_customers(net: Network) -> Network:
    """Name each customer's serving transformer from the normal-state topology (OpenDSS has no
    customer records: the importer makes one service point per load). A model whose topology
    cannot be built (an element on a missing bus) keeps them blank for the validator to report."""
    try:
        serving = serving_transformers(net)
    except ModelError:
        return net
    return net.replace(service_point=net.service_point.with_columns(transformer=serving))
