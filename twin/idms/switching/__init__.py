"""Switching operations: orders, safety documents (clearances), the checks every step and every
operation go through, and the desk that runs them (see :mod:`twin.idms.switching.desk`)."""

from twin.grid.connectivity import Connectivity, Effect

from .checks import Checker, Rehearsal, StepCheck, Study, rehearse
from .desk import SwitchingDesk
from .order import OrderError, OrderState, Performer, Step, StepKind, StepState, SwitchingOrder
from .safety import Clearance, ClearanceError, ClearanceState, Refusal, SafetyRegister

__all__ = ["Checker", "Clearance", "ClearanceError", "ClearanceState", "Connectivity", "Effect", "OrderError",
           "OrderState", "Performer", "Refusal", "Rehearsal", "SafetyRegister", "Step", "StepCheck", "StepKind",
           "StepState", "Study", "SwitchingDesk", "SwitchingOrder", "rehearse"]
