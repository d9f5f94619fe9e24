"""The outage manager's AMI checks: pings that confirm a prediction, withdraw it or move it up,
tell an inside-premise call apart, find the pockets a restoration left, and sweep the territory.

A mixin of :class:`~twin.idms.oms.manager.OutageManager` (the state is the manager's; see its
module docstring for the rules). Every check is one ping request to the head-end, answered later
by callback; a meter the head-end has no route to (``routed=False``) proves nothing and is asked
again ``recheck_s`` later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from twin.idms.interfaces.ami import AmiReply
from twin.idms.oms.records import OutageState
from twin.idms.oms.tree import TRANSFORMER

__all__ = ["AmiChecks"]

log = logging.getLogger("twin.idms.oms.manager")

_GASP, _CALL, _SILENT = 1, 2, 4  # evidence kinds, as bits: a last gasp, a call, a silent ping


@dataclass
class _Check:
    """A verification ping under way: of outage ``record`` at ``device``, meters ``below`` it and
    the ``control`` around it (customers of its ``parent`` node)."""

    record: int
    device: str
    below: np.ndarray
    control: np.ndarray
    parent: int


class AmiChecks:
    """Pings and what their answers mean (mixed into the outage manager)."""

    def sweep(self) -> int:
        """An AMI sweep (after a storm): ping every meter believed to have power and in no
        outage; one silent four times running, with a route to it, is out (its outage starts now,
        as far as the IDMS can tell). Returns how many meters were asked (0 without AMI)."""
        if self.ami is None:
            return 0
        quiet = np.flatnonzero((self.owner < 0) & self.model.customer_live)
        if len(quiet):
            self._ping(quiet, self._swept)
        return len(quiet)

    def _swept(self, reply: AmiReply, *, rounds: int = 2) -> None:
        """A sweep's answers: the meters silent with a route to them are asked ``rounds`` more
        times (in a sweep of the whole territory a meter's odd missed ping is common), then taken
        for out."""
        now = self.clock.now()
        silent = self._silent(reply)
        silent = silent[self.owner[silent] < 0]
        if not len(silent):
            return
        if rounds > 1:
            self._ping(silent, lambda r, n=rounds - 1: self._swept(r, rounds=n))
            return
        log.info("AMI sweep: %d meters silent three times", len(silent))
        self._ev_s[silent] = np.fmin(self._ev_s[silent], now)
        self._ask_still_out(silent)

    def _ping(self, customers: np.ndarray, callback: Callable[[AmiReply], None]) -> None:
        assert self.ami is not None
        self.pings += 1

        def answered(reply: AmiReply) -> None:
            self._learn_routes(reply)
            callback(reply)

        self.ami.ping([str(m) for m in self._meter[customers].tolist()], answered)

    def _learn_routes(self, reply: AmiReply) -> None:
        """Note, per meter in a reply, whether the head-end had a route to it (when it had none)."""
        now = self.clock.now()
        for a in reply.answers:
            c = self._customer_of_meter.get(a.meter)
            if c is not None:
                self._no_route_s[c] = -np.inf if a.routed else now

    def _routable(self, customers: np.ndarray) -> np.ndarray:
        """Those of ``customers`` whose meters no ping has found out of reach in the last
        ``recheck_s`` (a check asks meters it can hear from, not the dark part of the AMI network)."""
        return customers[self._no_route_s[customers] < self.clock.now() - self.rules.recheck_s]

    def _silent(self, reply: AmiReply) -> np.ndarray:
        """Customer rows of the meters that did not answer though the head-end had a route to them."""
        return np.array([self._customer_of_meter[a.meter] for a in reply.answers if a.routed and not a.answered],
                        np.int64)

    def _unrouted(self, reply: AmiReply) -> np.ndarray:
        """Customer rows of the meters the head-end had no route to."""
        return np.array([self._customer_of_meter[a.meter] for a in reply.answers if not a.routed], np.int64)

    def _forget(self, c: int) -> None:
        """Customer ``c`` has power after all: what they said, or their meter did, is void."""
        self._ev_s[c], self._ev_kind[c] = np.nan, 0
        self._said_kind[c], self._said_s[c] = 0, np.nan
        self._pinged[c] = False
        self._pending.discard(c)

    def _sample(self, customers: np.ndarray, m: int | None = None) -> np.ndarray:
        """Up to ``m`` (default ``ping_sample``) of them, spread evenly (deterministic: no random
        draw)."""
        m = self.rules.ping_sample if m is None else m
        if len(customers) <= m:
            return customers
        return customers[np.linspace(0, len(customers) - 1, m).round().astype(np.int64)]

    def _check(self, k: int, node: int, now: float) -> None:
        """Ping, in one request, meters below the predicted device where nothing was heard from
        (in branches below it with no evidence: if the device is out they are too), and meters
        around it (its parent's other customers, not in an outage) as the control; none found out
        of reach lately (where the AMI network is down below it, nothing is asked)."""
        tree = self.tree
        mine = np.flatnonzero(self.owner == k)
        spoke = self._said_kind[mine] > 0
        said, unheard = mine[spoke], self._routable(mine[~spoke])
        branch = np.array([self._branch(node, c) for c in unheard.tolist()], np.int64)
        heard_from = {self._branch(node, c) for c in said.tolist()} - {node}  # customers at the node itself count
        quiet = unheard[~np.isin(branch, list(heard_from))] if len(unheard) else unheard
        if not len(quiet):  # every branch spoke: ask those that said nothing, then those that did (back yet?)
            quiet = unheard
        below = self._sample(quiet)
        if len(below) < self.rules.ping_sample:
            below = np.concatenate([below, self._sample(self._routable(said))[:self.rules.ping_sample - len(below)]])
        parent = int(tree.parent[node])
        around = tree.customers_below(parent) if parent >= 0 else np.empty(0, np.int64)
        around = self._routable(around[(self.owner[around] < 0) & self.model.customer_live[around]])
        control = self._sample(around)
        if not len(below):
            return
        check = _Check(k, str(tree.ids[node]), below, control, parent)
        self._ping(np.concatenate([below, control]), lambda reply, c=check: self._checked(c, reply))

    def _branch(self, node: int, c: int) -> int:
        """The node directly below ``node`` that customer ``c`` lies under (``node`` itself when
        it is the customer's leaf)."""
        tree = self.tree
        n = int(tree.leaf[c])
        while n >= 0 and int(tree.parent[n]) != node and n != node:
            n = int(tree.parent[n])
        return n

    def _checked(self, check: _Check, reply: AmiReply) -> None:
        now = self.clock.now()
        rec = self.records[check.record]
        if not rec.active or rec.device != check.device or rec.state != OutageState.predicted:
            return
        below = [a for a in reply.answers[:len(check.below)] if a.routed]  # no route: its silence says nothing
        control = [a for a in reply.answers[len(check.below):] if a.routed]
        heard = sum(a.answered for a in below)
        share = self.rules.ping_energised_share
        if not below:
            rec.note(now, f"ping inconclusive: no route to the meters below {check.device} (AMI network down)")
            self._flush()
            return
        if heard >= share * len(below):
            self._withdraw(check.record, now, f"ping: {heard} of {len(below)} meters below {check.device} answered")
            self._flush()
            return
        around = sum(a.answered for a in control)
        if control and around < (1.0 - share) * len(control):  # silent around it too
            parent = str(self.tree.ids[check.parent])
            if not self._blocked(self.tree, now)[check.parent] and parent not in self._active_at:
                rec.note(now, f"ping: {len(below) - heard} of {len(below)} meters below and {len(control) - around} "
                              f"of {len(control)} around silent: moved up to {parent}")
                self._predict_at(check.parent, np.empty(0, np.int64), now)
            else:  # SCADA shows the device above closed: the silence is the meters' communications
                rec.note(now, f"ping inconclusive: meters around {check.device} silent too, under {parent} "
                              "that SCADA shows closed")
                mine = np.flatnonzero(self.owner == check.record)
                spoke = mine[self._said_kind[mine] > 0]
                if len(spoke) and (self._said_s[spoke] <= self._last_end[spoke]).all():
                    self._withdraw(check.record, now, "the last gasps behind it belong to an interruption that is "
                                                      "over, and the meters around are silent (communications)")
        else:
            rec.state, rec.confirmed_by, rec.confirmed_s = OutageState.confirmed, "ami", now
            rec.note(now, f"confirmed by ping: {len(below) - heard} of {len(below)} meters below silent, "
                          f"{around} of {len(control)} around answered")
            self._touch(check.record)
        self._flush()

    def _single_premise_answered(self, customers: np.ndarray, reply: AmiReply) -> None:
        energised = {self._customer_of_meter[m] for m in reply.energised}
        now = self.clock.now()
        for c in customers.tolist():
            if c in energised and self.owner[c] < 0:
                self._forget(c)
                self._inside_premise(c, now, "the meter answered a ping: power at the meter")
            elif self.owner[c] < 0:
                self._ev_kind[c] |= _SILENT
                self._pending.add(c)
        self._schedule_prediction(now=True)  # the call is in and checked: nothing more to wait for
        self._flush()

    def _ask_still_out(self, customers: np.ndarray) -> None:
        """Ping meters that may be out (a last gasp from an interruption that is over, silent in a
        sweep or after a restoration) with up to ``ping_sample`` of their transformer-mates in no
        outage: see :meth:`_explained_answered`."""
        tree = self.tree
        mates = []
        for leaf in np.unique(tree.leaf[customers]).tolist():
            if leaf < 0:
                continue
            around = tree.customers_below(leaf) if tree.kind[leaf] == TRANSFORMER else np.empty(0, np.int64)
            around = around[(self.owner[around] < 0) & self.model.customer_live[around]
                            & ~np.isin(around, customers)]
            mates.append(self._sample(around))
        mates = np.concatenate(mates) if mates else np.empty(0, np.int64)
        self._ping(np.concatenate([customers, mates]), lambda reply, cs=customers: self._explained_answered(cs, reply))

    def _explained_answered(self, customers: np.ndarray, reply: AmiReply) -> None:
        """Meters that may be out, pinged with their transformer-mates (:meth:`_ask_still_out`):
        silent (with a route to them) they are out still, unless most mates on their transformer
        answered (one meter silent among live neighbours is that meter's radio, not an outage: the
        customer calls if not); answering, their evidence is void; out of reach (the AMI network
        down), they are asked again ``recheck_s`` later."""
        out = set(self._silent(reply).tolist())
        unrouted = self._unrouted(reply)
        out_of_reach = set(unrouted.tolist())
        answered = {self._customer_of_meter[a.meter] for a in reply.answers if a.answered}
        heard: dict[int, list[int]] = {}  # per transformer: mates (not asked about) answered, routed
        asked = set(customers.tolist())
        for a in reply.answers:
            c = self._customer_of_meter[a.meter]
            if a.routed and c not in asked:
                heard.setdefault(int(self.tree.leaf[c]), []).append(int(c in answered))
        for c in customers.tolist():
            if self.owner[c] >= 0 or c in out_of_reach:
                continue
            mates = heard.get(int(self.tree.leaf[c]), [])
            if c in out and mates and sum(mates) >= self.rules.ping_energised_share * len(mates):
                log.info("meter of %s silent while its transformer's other meters answer: not an outage",
                         self._sp_ids[c])
                self._forget(c)
            elif c in out:
                self._ev_kind[c] |= _SILENT
                self._pending.add(c)
            else:
                self._forget(c)
        again = unrouted[self.owner[unrouted] < 0]
        if len(again):
            self.clock.call_later(self.rules.recheck_s, lambda cs=again: self._recheck(cs))
        self._schedule_prediction(now=True)
        self._flush()

    def _recheck(self, customers: np.ndarray) -> None:
        """Ask again the meters that were out of reach, those still in no outage."""
        customers = customers[self.owner[customers] < 0]
        if len(customers):
            self._ask_still_out(customers)

    def _verify_restoration(self, customers: np.ndarray) -> None:
        """``verify_delay_s`` after customers are brought back, ping those not heard from since (no
        power-restore message), up to ``restoration_sample`` of them: a meter silent twice running,
        with a route to it, is a pocket still out."""
        if self.ami is None or not len(customers):
            return
        self.clock.call_later(self.rules.verify_delay_s, lambda cs=customers.copy(): self._verify_now(cs))

    def _verify_now(self, customers: np.ndarray) -> None:
        quiet = customers[(self.owner[customers] < 0) & self.model.customer_live[customers]
                          & ~(self._power_back_s[customers] >= self._restored_at[customers])]
        sample = self._sample(quiet, self.rules.restoration_sample)
        if len(sample):
            self._ping(sample, self._restoration_answered)

    def _restoration_answered(self, reply: AmiReply) -> None:
        silent, unrouted = self._silent(reply), self._unrouted(reply)
        ask = np.concatenate([silent, unrouted])
        ask = ask[(self.owner[ask] < 0) & (self._restored_row[ask] >= 0)]
        if not len(ask):
            return
        self._ev_s[ask] = np.fmin(self._ev_s[ask], self.i_start[self._restored_row[ask]])  # the same interruption
        silent = silent[np.isin(silent, ask)]
        if len(silent):  # once more: a meter misses a ping now and then
            self._ask_still_out(silent)
        unrouted = unrouted[np.isin(unrouted, ask)]
        if len(unrouted):
            self.clock.call_later(self.rules.recheck_s, lambda cs=unrouted: self._recheck(cs))

    def _witnesses_answered(self, witness: dict[int, tuple[int, float]], reply: AmiReply) -> None:
        """The customers behind a withdrawn prediction, pinged: the silent ones are still out."""
        for m in reply.energised:
            c = self._customer_of_meter[m]
            self._said_kind[c], self._said_s[c] = 0, np.nan
        for m in reply.silent:
            c = self._customer_of_meter[m]
            kind, time_s = witness[c]
            if self.owner[c] < 0 and self.model.customer_live[c]:
                self._ev_s[c] = time_s if np.isnan(self._ev_s[c]) else min(self._ev_s[c], time_s)
                self._ev_kind[c] |= kind | _SILENT
                self._pending.add(c)
        self._schedule_prediction(now=True)
        self._flush()
