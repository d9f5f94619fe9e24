"""SCADA: the point database with quality and time stamps, report-by-exception and integrity
scans, alarms (rules as data, acknowledgement, shelving), the sequence of events, and supervisory
control with select-before-operate, confirmation and tags. :class:`Scada` ties them to one
:class:`~twin.idms.interfaces.field_devices.FieldDeviceLink` and one
:class:`~twin.idms.interfaces.clock.Clock`."""

from .alarms import DEFAULT_RULES, Alarm, AlarmList, AlarmRule, Condition, UnknownAlarm
from .control import ControlOperation, FailReason, Outcome, SupervisoryControl, Tag, TagKind, UnknownTag
from .points import (STATUS_POINTS, ManualEntry, NoManualEntry, Point, PointChange, PointDatabase,
                     UnknownPoint)
from .scada import Scada, ScanRepair
from .soe import Cause, Event, SequenceOfEvents

__all__ = ["Alarm", "AlarmList", "AlarmRule", "Cause", "Condition", "ControlOperation", "DEFAULT_RULES",
           "Event", "FailReason", "ManualEntry", "NoManualEntry", "Outcome", "Point", "PointChange",
           "PointDatabase", "STATUS_POINTS", "Scada", "ScanRepair", "SequenceOfEvents",
           "SupervisoryControl", "Tag", "TagKind", "UnknownAlarm", "UnknownPoint", "UnknownTag"]
