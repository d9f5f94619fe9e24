"""AMI smart meters of the simulated world: the meter fleet in bulk and its head-end (:mod:`twin.meters.fleet`)."""

from twin.meters.fleet import (HeadEnd, MeterFleet, MeterParameters, PingResult, Received,
                               VoltageRead)

__all__ = ["HeadEnd", "MeterFleet", "MeterParameters", "PingResult", "Received", "VoltageRead"]
