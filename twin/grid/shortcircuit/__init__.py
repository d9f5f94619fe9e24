"""Short-circuit analysis on the full unbalanced phase-domain model.

:func:`fault_study` gives every bus's bolted fault currents with OpenDSS's fault-study
definitions (three-phase, the largest single line-to-ground, the largest line-to-line) and the
minimum fault (the smaller of SLG and LL, bolted or through a fault resistance), and the weakest
fault of each protective device's zone; :func:`fault_at` works one fault out in full (any
:class:`FaultType`, any phases, a fault resistance) with the currents every protective device
sees. Both take the network's present switch states; pre-fault voltages are the power flow's
(OpenDSS's) or flat (the linear network). The Thevenin equivalents come from one factorisation of
the fault-study Y (:mod:`twin.grid.shortcircuit.thevenin`); the currents from the phase-domain
fault equations (:mod:`twin.grid.shortcircuit.faults`).

Validated against OpenDSS's fault study (``tests/grid/test_shortcircuit.py``): IEEE 13, 34 and
123, every bus and all three figures.

>>> from twin.grid.opendss import load_opendss
>>> study = fault_study(load_opendss("../shared/feeders/13bus/ieee13nodeckt.dss"))  # doctest: +SKIP
>>> study.buses.set_index("bus").loc["671", ["i3ph_a", "islg_a", "ill_a"]].round()  # doctest: +SKIP
i3ph_a    5691.0
islg_a    3090.0
ill_a     5035.0
"""

from twin.grid.shortcircuit.faults import FaultType, fault_currents
from twin.grid.shortcircuit.study import MIN_FAULT_OHM, FaultResult, FaultStudy, fault_at, fault_study
from twin.grid.shortcircuit.thevenin import Thevenin, thevenin

__all__ = ["MIN_FAULT_OHM", "FaultResult", "FaultStudy", "FaultType", "Thevenin", "fault_at", "fault_currents",
           "fault_study", "thevenin"]
