"""Primitive admittances of the network's elements and their assembly into the nodal matrix Y.

Each builder returns *entries* ``(rows, cols, values)`` of Y in siemens, over node numbers of a
:class:`~twin.grid.powerflow.nodes.NodeIndex`; an entry on :data:`GROUND` is dropped, which ties
that conductor to the reference. :func:`assemble` sums them into one sparse matrix. Sign
convention: ``Y @ v = i``, currents injected into the nodes.

Element models (as OpenDSS builds them, so that the two agree to round-off):

* **Line**: series ``Z = (R + jX) * length`` over the line's phases (conductor position k is its
  k-th phase), shunt ``jB * length / 2`` at each end (pi model).
* **Switch**: closed, ``(1 + 1j) mOhm`` per phase, OpenDSS's ``switch=yes`` line; open, absent.
* **Transformer**: see :mod:`~twin.grid.powerflow.transformers`.
* **Source**: a Thevenin equivalent from r1/x1/r0/x0 as a 3x3 phase impedance, entered as its
  Norton admittance here; its current ``Y_s E`` is :func:`source_injection`.
* **Capacitor**: ``jQ / V^2`` per phase (wye) or per delta branch, when closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import ModelError
import scipy.sparse as sp

from twin.grid.network import Network
from twin.grid.powerflow.nodes import GROUND, SQRT3, NodeIndex, is_split, slot_mask
from twin.grid.schema import Conn

__all__ = ["Entries", "Flows", "assemble", "branch_entries", "concat", "line_entries",
           "switch_entries", "source_entries", "source_injection", "source_admittances", "capacitor_entries",
           "sequence_z"]

MIN_SWITCH_Z_OHM = 1e-9  # a closed switch keeps a finite admittance: an ideal one would merge nodes
"""Impedance per phase of a closed switch: OpenDSS's ``switch=yes`` line (1 + j1 ohm/unit x 0.001).

The switch table holds no impedance; a script that gives its switch lines another one (the IEEE
13 and 123 feeders use 1e-7 and 1e-6 ohm) differs from this by a few 1e-4 pu at most."""



@dataclass(frozen=True)
class Flows:
    """Currents into a branch element at each of its conductor ends, from node voltages.

    End ``e`` of element ``element[e]`` (its row in ``table[e]``) sits on node ``node[e]`` of
    terminal ``terminal[e]`` (0-based: line ends, transformer windings); its current is the sum of
    ``values`` over the triplets ``(ends, cols, values)`` with ``ends == e``, times ``v[cols]``.
    """

    ends: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    node: np.ndarray
    table: np.ndarray
    element: np.ndarray
    terminal: np.ndarray

    @staticmethod
    def concat(parts: list[Flows]) -> Flows:
        """All parts as one (end numbers offset); none: an empty one."""
        if not parts:
            none = np.zeros(0, np.int64)
            return Flows(none, none, np.zeros(0, complex), none, np.zeros(0, object), none, none)
        offsets = np.cumsum([0] + [len(p.node) for p in parts])
        cat = np.concatenate
        return Flows(cat([p.ends + o for p, o in zip(parts, offsets)]),
                     *(cat([getattr(p, f) for p in parts]) for f in
                       ("cols", "values", "node", "table", "element", "terminal")))


@dataclass(frozen=True)
class Entries:
    """Sparse entries of Y: ``values[k]`` at ``(rows[k], cols[k])``; ``n_extra`` internal nodes
    used; ``flows`` the branch currents (branch elements only)."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    n_extra: int = 0
    flows: Flows | None = None

    @staticmethod
    def empty() -> Entries:
        return Entries(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, complex))


def branch_entries(ends: np.ndarray, prim: np.ndarray, table: str = "", element: np.ndarray | None = None,
                   terminal: np.ndarray | None = None) -> Entries:
    """Entries of a stack of primitives: ``prim[m]`` (k x k) between nodes ``ends[m]`` (k).

    Given the element rows (m) and the terminal of each of the k ends, also their :class:`Flows`.
    """
    ends = np.asarray(ends, dtype=np.int64)
    if ends.size == 0:
        return Entries.empty()
    m, k = ends.shape
    rows = np.repeat(ends[:, :, None], k, axis=2)
    cols = np.repeat(ends[:, None, :], k, axis=1)
    keep = (rows != GROUND) & (cols != GROUND) & (prim != 0)
    flows = None
    if element is not None:
        end_index = np.arange(m * k).reshape(m, k)
        at = (cols != GROUND) & (prim != 0)
        flows = Flows(np.repeat(end_index[:, :, None], k, axis=2)[at], cols[at], np.asarray(prim)[at],
                      ends.ravel(), np.full(m * k, table, dtype=object), np.repeat(element, k),
                      np.tile(terminal, m))
    return Entries(rows[keep], cols[keep], prim[keep], flows=flows)


def _line_slots(phases: np.ndarray, n: int) -> np.ndarray:
    """(m, n) slots of m elements that each use n slots, ascending."""
    return np.nonzero(slot_mask(phases))[1].reshape(-1, n)


def line_entries(net: Network, nodes: NodeIndex, live: np.ndarray) -> Entries:
    """Series and shunt admittance of the in-service lines whose buses are live."""
    line, code = net.line, net.line_code
    bus = net.bus
    f = bus.index(line["from_bus"]) if len(line) else np.zeros(0, np.int64)
    t = bus.index(line["to_bus"]) if len(line) else np.zeros(0, np.int64)
    on = line["in_service"] & live[f] & live[t]
    rows_on = np.flatnonzero(on)
    c = code.index(line["code"][on]) if on.any() else np.zeros(0, np.int64)
    f, t, phases, length = f[on], t[on], line["phases"][on], line["length_m"][on]
    counts = slot_mask(phases).sum(axis=1)
    parts = []
    for n in (1, 2, 3):
        sel = np.flatnonzero(counts == n)
        if not len(sel):
            continue
        cc, ln = c[sel], length[sel, None, None]
        z = (code["r_ohm_per_m"][cc, :n, :n] + 1j * code["x_ohm_per_m"][cc, :n, :n]) * ln
        ysh = 0.5j * code["b_s_per_m"][cc, :n, :n] * ln
        singular = np.abs(np.linalg.det(z)) < 1e-30
        if singular.any():
            bad = net.line.ids[rows_on[sel][np.argmax(singular)]]
            raise ModelError("series impedance is zero or singular (zero length or an empty code?)",
                             component="line", element=str(bad), field="length_m",
                             fix="give the line a length and a code with impedance; use a switch for a zero-length joint")
        y = np.linalg.inv(z)
        slots = _line_slots(phases[sel], n)
        ends = np.concatenate([nodes.of[f[sel, None], slots], nodes.of[t[sel, None], slots]], axis=1)
        prim = np.block([[y + ysh, -y], [-y, y + ysh]])
        parts.append(branch_entries(ends, prim, "line", rows_on[sel], np.repeat([0, 1], n)))
    return concat(parts)


def switch_entries(net: Network, nodes: NodeIndex, live: np.ndarray) -> Entries:
    """Closed switches as their small series impedance per phase (``r_ohm``, ``x_ohm``)."""
    sw, bus = net.switch, net.bus
    if not len(sw):
        return Entries.empty()
    f, t = bus.index(sw["from_bus"]), bus.index(sw["to_bus"])
    on = ~sw["open"] & live[f] & live[t]
    mask = slot_mask(sw["phases"][on])
    k, slot = np.nonzero(mask)
    a, b = nodes.of[f[on][k], slot], nodes.of[t[on][k], slot]
    z = sw["r_ohm"] + 1j * sw["x_ohm"]
    z = np.where(np.abs(z) < MIN_SWITCH_Z_OHM, MIN_SWITCH_Z_OHM, z)
    y = 1.0 / z[on][k]
    prim = y[:, None, None] * np.array([[1.0, -1.0], [-1.0, 1.0]])
    return branch_entries(np.stack([a, b], axis=1), prim, "switch", np.flatnonzero(on)[k], np.array([0, 1]))


def sequence_z(r1: float, x1: float, r0: float, x0: float) -> np.ndarray:
    """3x3 phase impedance of a balanced element from its sequence impedances."""
    z1, z0 = complex(r1, x1), complex(r0, x0)
    return (2 * z1 + z0) / 3 * np.eye(3) + (z0 - z1) / 3 * (1 - np.eye(3))


def source_admittances(net: Network, nodes: NodeIndex, live: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes (m, 3), Norton admittances (m, 3, 3) and EMFs (m, 3) of the live sources."""
    src, bus = net.source, net.bus
    if not len(src):
        return np.zeros((0, 3), np.int64), np.zeros((0, 3, 3), complex), np.zeros((0, 3), complex)
    rows = bus.index(src["bus"])
    on = live[rows]
    ends = nodes.of[rows[on]]
    z = np.stack([sequence_z(*vals) for vals in zip(src["r1_ohm"][on], src["x1_ohm"][on], src["r0_ohm"][on],
                                                     src["x0_ohm"][on])]) if on.any() else np.zeros((0, 3, 3))
    # a stiff source (zero impedance) gets a tiny one, as OpenDSS does with its defaults
    z = z + 1e-9 * np.eye(3)
    y = np.linalg.inv(z)
    mag = src["v_pu"][on] * src["v_nom_v"][on] / SQRT3
    shift = np.array([0.0, -2 * np.pi / 3, 2 * np.pi / 3])
    emf = mag[:, None] * np.exp(1j * (src["angle_rad"][on][:, None] + shift))
    return ends, y, emf


def source_entries(net: Network, nodes: NodeIndex, live: np.ndarray) -> Entries:
    """Norton admittance of each source at its bus."""
    ends, y, _ = source_admittances(net, nodes, live)
    return branch_entries(ends, y)


def source_injection(net: Network, nodes: NodeIndex, live: np.ndarray, n: int) -> np.ndarray:
    """Norton currents ``Y_s E`` of the sources into their bus nodes (length ``n``)."""
    ends, y, emf = source_admittances(net, nodes, live)
    out = np.zeros(n, complex)
    i = np.einsum("mij,mj->mi", y, emf)
    keep = ends != GROUND
    np.add.at(out, ends[keep], i[keep])
    return out


def capacitor_entries(net: Network, nodes: NodeIndex, live: np.ndarray) -> Entries:
    """Closed capacitors: a susceptance per phase to ground (wye) or per delta branch."""
    cap, bus = net.capacitor, net.bus
    if not len(cap):
        return Entries.empty()
    rows = bus.index(cap["bus"])
    on = cap["closed"] & live[rows]
    rows, phases, conn = rows[on], cap["phases"][on], cap["conn"][on]
    q, v_rated = cap["q_rated_var"][on], cap["v_rated_v"][on]
    mask = slot_mask(phases)
    n_ph = mask.sum(axis=1)
    delta = conn == Conn.delta
    v_wye = np.where((n_ph > 1) & ~is_split(phases), v_rated / SQRT3, np.where(n_ph > 1, v_rated / 2, v_rated))
    v = np.where(delta, v_rated, v_wye)
    k, slot = np.nonzero(q != 0)
    y = 1j * q[k, slot] / v[k] ** 2
    a = nodes.of[rows[k], slot]
    b = np.where(delta[k], nodes.of[rows[k], (slot + 1) % 3], GROUND)
    fed = (a != GROUND) & (~delta[k] | (b != GROUND))  # no shunt on a conductor no source feeds
    y, a, b = y[fed], a[fed], b[fed]
    prim = y[:, None, None] * np.array([[1.0, -1.0], [-1.0, 1.0]])
    return branch_entries(np.stack([a, b], axis=1), prim)


def concat(parts: list[Entries]) -> Entries:
    """All entries (and flows) of several parts as one."""
    if not parts:
        return Entries.empty()
    flows = [p.flows for p in parts if p.flows is not None]
    return Entries(np.concatenate([p.rows for p in parts]), np.concatenate([p.cols for p in parts]),
                   np.concatenate([p.values for p in parts]), sum(p.n_extra for p in parts),
                   Flows.concat(flows) if flows else None)


def assemble(parts: list[Entries], n: int) -> sp.csc_matrix:
    """Sum entries into an ``n x n`` sparse matrix."""
    e = concat(parts)
    return sp.csc_matrix(sp.coo_matrix((e.values, (e.rows, e.cols)), shape=(n, n)))
