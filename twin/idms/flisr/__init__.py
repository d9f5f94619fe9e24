"""Fault location, isolation and service restoration (FLISR): locate a permanent fault locked out
by a breaker or recloser, isolate it with the nearest remote switches, restore the healthy
sections over ties within the limits the power flow confirms, and return to normal after the
repair (see :mod:`twin.idms.flisr.app`)."""

from .app import Flisr, FlisrCase, FlisrMode
from .locate import Isolation, isolate
from .plan import Restoration, plan_restoration

__all__ = ["Flisr", "FlisrCase", "FlisrMode", "Isolation", "Restoration", "isolate", "plan_restoration"]
