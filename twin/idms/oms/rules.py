"""Outage prediction rules, as data: the rule sets an instructor switches between.

A :class:`RuleSet` says when the evidence of customers out (AMI last gasps, trouble calls, silent
pings) below a device is enough to predict that the device opened (see
:mod:`twin.idms.oms.prediction` for how they are applied):

* a **transformer** is predicted when ``transformer_min_customers`` of its customers are out, or
  all of them are;
* a **protective device** (fuse, recloser, breaker) when at least ``device_min_children`` of the
  devices or transformers directly below it have customers out, or, with ``children_predicted``,
  are predicted themselves by these rules (``move upstream when enough child devices are
  predicted``: in a storm a call under each of three fuses of a recloser is three transformers,
  not the recloser, while three transformers with calls under one fuse are the fuse), or when ``device_min_customers`` of its customers and at least
  ``device_min_share`` of them are out, or (``all_customers``) when every one of its customers is;
* evidence counts together only within ``window_s`` of the newest (older evidence is another
  event: a storm's unrelated calls are split);
* the rules wait ``hold_s`` after new evidence before predicting (the rest of a burst of last
  gasps arrives meanwhile);
* with AMI, a prediction is checked by pinging up to ``ping_sample`` meters below the device that
  have not reported (silent: confirmed; ``ping_energised_share`` or more answering: the device is
  not out) and as many around it (silent: the outage is larger, move up); a single premise out on a
  call alone is pinged before any crew goes; ``verify_delay_s`` after a restoration, up to
  ``restoration_sample`` of its meters not heard from since are pinged (silent twice: a pocket
  still out, the same interruption if within ``verify_window_s``);
  a meter the head-end has no route to is asked again ``recheck_s`` later;
* in ``storm`` mode the estimated restoration times add the crews' backlog.

``normal`` promotes eagerly (a quiet day's outages are few, and one call matters); ``storm`` asks
for more before moving up, since many independent small outages stand side by side.

>>> RULE_SETS["storm"].device_min_children
3
>>> rule_set("normal").transformer_min_customers
1
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twin.errors import TwinError

__all__ = ["RULE_SETS", "RuleSet", "RuleSetError", "rule_set"]


class RuleSetError(TwinError):
    """A rule set given by name or as a mapping that cannot be used; names the key and what is allowed."""

    def __init__(self, message: str, *, key: str, value: Any = None, allowed: str = "") -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"outage prediction rules: {key}: {message}" + (f" (allowed: {allowed})" if allowed else ""))


@dataclass(frozen=True)
class RuleSet:
    """One set of outage prediction rules (see the module docstring); times in seconds."""

    name: str
    transformer_min_customers: int = 1
    device_min_children: int = 2
    device_min_customers: int = 3
    device_min_share: float = 0.5
    children_predicted: bool = False  # a child counts toward moving up only when predicted itself
    all_customers: bool = True
    window_s: float = 3600.0
    hold_s: float = 30.0
    ping_sample: int = 8
    ping_energised_share: float = 0.5
    verify_window_s: float = 3600.0  # a customer found still out this soon after a restoration: the same interruption
    restoration_sample: int = 5000  # meters pinged after a restoration, at most, for pockets still out
    verify_delay_s: float = 300.0  # how long after a restoration (meters' power-restore messages come first)
    recheck_s: float = 900.0  # a meter out of reach (the AMI network down) is asked again this much later
    storm: bool = False

    def __post_init__(self) -> None:
        for key in ("transformer_min_customers", "device_min_children", "device_min_customers", "ping_sample",
                    "restoration_sample"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RuleSetError(f"{value!r} is not a whole number of 1 or more", key=key, value=value,
                                   allowed="1, 2, 3 ...")
        for key in ("all_customers", "children_predicted", "storm"):
            if not isinstance(getattr(self, key), bool):
                raise RuleSetError(f"{getattr(self, key)!r} is not yes or no", key=key, value=getattr(self, key),
                                   allowed="true, false")
        for key in ("device_min_share", "ping_energised_share"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
                raise RuleSetError(f"{value!r} is not a share", key=key, value=value, allowed="above 0, up to 1")
        for key in ("window_s", "hold_s", "verify_window_s", "recheck_s", "verify_delay_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < math.inf:
                raise RuleSetError(f"{value!r} is not a duration", key=key, value=value, allowed="seconds, 0 or more")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, base: str = "normal") -> RuleSet:
        """A rule set from plain data (a scenario file's ``outage_rules``): the built-in ``base``
        (``data['base']`` if given) with the keys given changed. Unknown keys are errors."""
        base = str(data.get("base", base))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"base"})
        if unknown:
            raise RuleSetError("no such rule", key=unknown[0], allowed=", ".join(sorted(known - {"name"})))
        changes = {k: v for k, v in data.items() if k != "base"}
        return dataclasses.replace(rule_set(base), **changes)


RULE_SETS: dict[str, RuleSet] = {
    "normal": RuleSet("normal"),
    "storm": RuleSet("storm", device_min_children=3, device_min_customers=5, device_min_share=0.6,
                     children_predicted=True, window_s=1800.0, hold_s=30.0, storm=True),
}
"""The built-in rule sets by name."""


def rule_set(name: str) -> RuleSet:
    """The built-in rule set ``name`` (``normal`` or ``storm``)."""
    try:
        return RULE_SETS[name]
    except KeyError:
        raise RuleSetError(f"no rule set {name!r}", key="rules", value=name, allowed=", ".join(RULE_SETS)) from None
