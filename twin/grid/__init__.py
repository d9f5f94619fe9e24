"""The network model and the analyses shared by the world and the IDMS.

Pure: imports none of the rest of Twin and no simpy, pygame or faker.
"""

from twin.grid.network import TABLE_NAMES, Network
from twin.grid.schema import (
    SCHEMAS,
    CapControlKind,
    Conn,
    CustomerClass,
    GeneratorKind,
    IndicatorReset,
    LineKind,
    Phase,
    SwitchKind,
    TransformerKind,
)
from twin.grid.table import Table

__all__ = [
    "Network",
    "TABLE_NAMES",
    "SCHEMAS",
    "Table",
    "Phase",
    "Conn",
    "LineKind",
    "SwitchKind",
    "TransformerKind",
    "CapControlKind",
    "GeneratorKind",
    "CustomerClass",
    "IndicatorReset",
]
