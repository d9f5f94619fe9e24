"""AMI smart meters of the simulated world: the meter fleet in bulk and its head-end
(:mod:`twin.meters.fleet`), brown-out alarms (:mod:`twin.meters.voltage_alarms`), interval data
(:mod:`twin.meters.intervals`) and the meter data management store (:mod:`twin.meters.mdm`)."""

from twin.meters.fleet import (HeadEnd, MeterFleet, MeterParameters, PingResult, Received,
                               VoltageRead)
from twin.meters.mdm import LoadProfile, MdmParameters, MeterDataManagement

__all__ = ["HeadEnd", "LoadProfile", "MdmParameters", "MeterDataManagement", "MeterFleet", "MeterParameters",
           "PingResult", "Received", "VoltageRead"]
