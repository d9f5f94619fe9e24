"""Customers who call the trouble line (:mod:`twin.callers.calls`)."""

from twin.callers.calls import Call, CallerParameters, CallReason, Callers, call_chance

__all__ = ["Call", "CallReason", "CallerParameters", "Callers", "call_chance"]
