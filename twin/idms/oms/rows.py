"""The outage manager's interruption rows: one per customer per interruption, in numpy arrays
grown by doubling, moved between records but never counted twice.

A mixin of :class:`~twin.idms.oms.manager.OutageManager`. A row is *added* when a customer goes
into an outage, *transferred* when the customer moves to another record (an outage moving up, a
pocket), *ended* when power is back (a later check may *reopen* it: the same interruption, not a
second one), and *dropped* when the customer was never out on that record's account (a reopened
row goes back to how it was; a row that was in a confirmed outage is ended, never deleted).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["InterruptionRows"]


class InterruptionRows:
    """Row bookkeeping (mixed into the outage manager)."""

    def _add(self, k: int, customers: np.ndarray, starts: np.ndarray) -> None:
        starts = np.asarray(starts, float)
        starts = np.maximum(np.where(np.isnan(starts), self.clock.now(), starts), self._last_end[customers])
        m, n = len(customers), self._n_rows
        if n + m > len(self.i_customer):
            self._grow(n + m)
        rows = np.arange(n, n + m)
        self.i_outage[rows], self.i_customer[rows], self.i_start[rows] = k, customers, starts
        self.i_end[rows], self.i_deleted[rows], self.i_firm[rows] = np.nan, False, False
        self._n_rows = n + m
        self._rows_of[k].update(rows.tolist())
        self._dirty_rows.update(rows.tolist())
        self._row[customers] = rows
        self.owner[customers] = k
        self._restored_row[customers] = -1
        self._pending.difference_update(customers.tolist())

    def _grow(self, need: int) -> None:
        size = max(need, 2 * len(self.i_customer))
        for name, fill in (("i_outage", 0), ("i_customer", 0), ("i_start", 0.0), ("i_end", np.nan),
                           ("i_deleted", False), ("i_firm", False)):
            old = getattr(self, name)
            new = np.full(size, fill, old.dtype)
            new[:len(old)] = old
            setattr(self, name, new)

    def _reopen_or_add(self, k: int, customers: np.ndarray, starts: np.ndarray) -> None:
        """Add customers to record ``k``; one restored lately whose interruption goes on (found
        silent after the restoration) has that row reopened and moved here, not a second one."""
        now = self.clock.now()
        recent = (self._restored_row[customers] >= 0) & (self._restored_at[customers] >= now - self.rules.verify_window_s)
        for c in customers[recent].tolist():
            r = int(self._restored_row[c])
            old = int(self.i_outage[r])
            self._reopened[r] = (old, float(self.i_end[r]))
            self._rows_of[old].remove(r)
            self._rows_of[k].add(r)
            self.i_outage[r], self.i_end[r] = k, math.nan
            self._row[c], self.owner[c], self._restored_row[c] = r, k, -1
            self._dirty_rows.add(r)
            self._touch(old)
        fresh = ~recent
        self._add(k, customers[fresh], starts[fresh])

    def _transfer(self, customers: np.ndarray, k: int) -> None:
        for c in customers.tolist():
            r = int(self._row[c])
            old = int(self.i_outage[r])
            self._rows_of[old].remove(r)
            self._rows_of[k].add(r)
            self.i_outage[r] = k
            self._dirty_rows.add(r)
            self._touch(old)
        self.owner[customers] = k
        self._touch(k)

    def _drop(self, customers: np.ndarray) -> None:
        """Take customers out of their record with no interruption (they were never out on its
        account): a row reopened from an earlier restoration goes back to how it was; a row that
        was in a confirmed outage ends now instead (that much of it was so)."""
        rows = self._row[customers]
        reopened = np.array([r in self._reopened for r in rows.tolist()], bool)
        firm = customers[self.i_firm[rows] & ~reopened] if len(customers) else customers
        if len(firm):
            self._end_rows(firm, self.clock.now())
            customers = np.setdiff1d(customers, firm)
        for c in customers.tolist():
            r = int(self._row[c])
            self._rows_of[int(self.i_outage[r])].remove(r)
            self._touch(int(self.i_outage[r]))
            back = self._reopened.pop(r, None)
            if back is None:
                self.i_deleted[r] = True
            else:
                self.i_outage[r], self.i_end[r] = back
                self._rows_of[back[0]].add(r)
                self._touch(back[0])
                self._last_end[c] = max(self._last_end[c], back[1])
            self._dirty_rows.add(r)
        self.owner[customers] = -1
        self._row[customers] = -1

    def _end_rows(self, customers: np.ndarray, now: float) -> None:
        """End the customers' interruptions now and take them out of their record (a check after
        it may reopen them: see :meth:`_reopen_or_add`)."""
        rows = self._row[customers]
        for r in rows.tolist():
            self._reopened.pop(r, None)  # it ends here now
            self._touch(int(self.i_outage[r]))
        self.i_end[rows] = np.maximum(now, self.i_start[rows])
        self._dirty_rows.update(rows.tolist())
        self._restored_row[customers] = rows
        self._restored_at[customers] = now
        self._pinged[customers] = False  # a later outage of theirs is pinged afresh
        self._last_end[customers] = np.maximum(now, self.i_start[rows])
        self.owner[customers] = -1
        self._row[customers] = -1
