"""Model rules: each a small function ``(net, ctx) -> list[Finding]``, registered in :data:`RULES`.

Four rules read the schema declarations (:mod:`twin.grid.schema`) and so cover every table and
column, present and future: repeated ids, references to elements that do not exist (``Field.ref``),
missing required values and values outside a column's declared range (``Field.low``/``high``, enum
members). The other rules know the physics the schema cannot say: a line needs a positive length,
a self impedance needs positive R and X, a single-phase wye winding is rated line-to-neutral.

Rule codes (stable; tools and tests match on them, never on message text):

=========================  =======  ===================================================================
code                       level    what
=========================  =======  ===================================================================
duplicate-id               error    an id used by more than one row of a table
dangling-bus               error    an element names a bus that does not exist
unknown-<table>            error    a reference to a missing line code, transformer, capacitor, load
unknown-element            error    a capacitor controller monitors an element that does not exist
missing-value              error    a required value is empty or NaN (windings up to ``n_windings``)
out-of-range               error    a value outside its column's declared range or enum
no-source                  error    the model has no source
self-loop                  error    an element whose ends are the same bus
phase-not-at-bus           error    an element uses a phase its bus does not have (a normally open
                                    switch: warning)
line-length                error    a line of zero or negative length
long-line                  warning  a line over 1000 times the median length of the lines beside it
line-code-impedance        error    a line code with a negative self R or X, or too few conductors
                           warning  a zero self R or X (zero R is fine for a code only reactors use)
line-code-asymmetric       error    a line code whose R or X matrix is not symmetric
line-code-xr               warning  a line code's positive-sequence X/R outside 0.1 ... 20
line-code-phases           error    a line with more phases than its line code
transformer-reactance      warning  a transformer with zero leakage reactance (negative: error)
voltage-mismatch           warning  a rating more than 10% from the nominal voltage of its bus
rated-voltage              error    a load, capacitor or generator with zero or no rated voltage
regulator-band             warning  a regulator bandwidth of zero or less (or over 20 V)
regulator-setpoint         warning  a regulator set point outside 100 ... 135 V
regulator-winding          error    a regulator controls a winding its transformer does not have
unserved-customer          error    a service point on a secondary bus with no transformer
protective-rating          warning  a breaker, recloser or fuse without a continuous/interrupting rating
fci-phases                 error    a fault indicator senses a phase its line does not carry
fci-reset                  warning  a voltage- or timed-reset fault indicator with no reset time
missing-coordinates        warning  buses without coordinates (one finding for all of them)
bus-voltage                warning  buses without a nominal voltage (one finding for all of them)
=========================  =======  ===================================================================

Topology rules (islands, loops, phase continuity, the serving transformer of each customer) are in
:mod:`twin.grid.validate.rules_topology`. A further family (the power-flow checks) is a module of
rules added to :data:`RULES` below; a rule may also be given directly to ``validate(rules=...)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from twin.grid.network import Network
from twin.grid.schema import PROTECTIVE_KINDS, Field, IndicatorReset, LineKind, Phase, SwitchKind, phase_text
from twin.grid.table import flat_names
from twin.grid.validate.context import Context, Rule, line_to_line_v, popcount
from twin.grid.validate.findings import Finding, Severity
from twin.grid.validate.rules_topology import TOPOLOGY_RULES

__all__ = ["Rule", "RULES", "MODEL_RULES"]

ERROR, WARNING = Severity.error, Severity.warning
VOLTAGE_TOLERANCE = 0.10
"""Relative difference between a rating and its bus's nominal voltage beyond which we warn."""
LONG_LINE_RATIO = 1000.0
XR_RANGE = (0.1, 20.0)
SETPOINT_RANGE_V = (100.0, 135.0)
SECONDARY_BELOW_V = 1000.0

# Columns whose range a dedicated rule checks with a better message (the generic range rule skips
# them), and the rated voltages whose absence ``rated-voltage`` reports (``missing-value`` skips).
_OWN_RANGE = frozenset({
    ("line", "length_m"), ("transformer", "x_hl_pct"), ("transformer", "x_ht_pct"),
    ("transformer", "x_lt_pct"), ("regulator", "v_set_v"), ("regulator", "band_v"),
    ("load", "v_rated_v"), ("capacitor", "v_rated_v"), ("generator", "v_rated_v"),
})
_OWN_MISSING = frozenset({("load", "v_rated_v"), ("capacitor", "v_rated_v"), ("generator", "v_rated_v")})
# Per-winding columns a transformer must give for each winding it has.
_WINDING_REQUIRED = frozenset({"bus", "phases", "v_rated_v", "s_rated_va"})


# -- helpers --------------------------------------------------------------------------------------


def _columns(net: Network, table: str, f: Field) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """``(label, values, applies)`` per flattened column: per-winding columns one winding at a time,
    ``applies`` the rows where the column must hold a value (windings up to ``n_windings``)."""
    t = net.table(table)
    values = t[f.name]
    if table == "transformer" and f.shape == (3,):
        for k, label in enumerate(flat_names(f)):
            yield label, values[:, k], t["n_windings"] > k
    elif f.shape:
        yield f.name, values.reshape(len(t), -1), np.ones(len(t), dtype=bool)
    else:
        yield f.name, values, np.ones(len(t), dtype=bool)


def _fmt(value: object, unit: str = "") -> str:
    if isinstance(value, float | np.floating):
        text = f"{float(value):.6g}"
    else:
        text = repr(value) if isinstance(value, str) else str(value)
    return f"{text} {unit}" if unit and text not in ("nan", "inf", "-inf") else text


def _pct(ratio: float) -> str:
    return f"{(ratio - 1.0) * 100:+.0f}%"


# -- schema-driven rules --------------------------------------------------------------------------


def check_duplicate_ids(net: Network, ctx: Context) -> list[Finding]:
    """An id names one row: repeated ids make every reference to them ambiguous."""
    out = []
    for name, t in net.tables():
        if len(t) < 2 or pd.Index(t.ids).is_unique:
            continue
        counts = pd.Series(t.ids).value_counts()
        for id_, n in counts[(counts > 1) & (counts.index != "")].items():
            out.append(Finding(ERROR, "duplicate-id", name, (id_,), field="id", value=int(n),
                               message=f"id {id_!r} is used by {n} rows",
                               fix=f"give each {name} its own id: rename or remove the repeats"))
    return out


_REF_FIX = {
    "bus": "correct the bus name (check its spelling) or add the bus",
    "line_code": "correct the line code name (check its spelling) or define the line code",
    "transformer": "correct the transformer id or add the transformer",
}


def check_references(net: Network, ctx: Context) -> list[Finding]:
    """Every id column declared with ``ref`` must name a row of that table ('' means none)."""
    out = []
    for name, t in net.tables():
        if not len(t):
            continue
        for f in t.schema.fields:
            if not f.ref:
                continue
            code = "dangling-bus" if f.ref == "bus" else f"unknown-{f.ref.replace('_', '-')}"
            for label, values, applies in _columns(net, name, f):
                missing = applies & (values != "") & (ctx.rows(f.ref, values) < 0)
                if not missing.any():
                    continue
                groups = pd.Series(t.ids[missing]).groupby(values[missing], sort=True)
                for target, owners in groups:
                    out.append(Finding.many(
                        ERROR, code, name, owners.to_numpy(), field=label, value=target,
                        message=f"{label} {target!r} does not exist",
                        fix=_REF_FIX.get(f.ref, f"correct the {f.ref} id or add the {f.ref}")))
    out += _monitored_elements(net, ctx)
    return out


def _monitored_elements(net: Network, ctx: Context) -> list[Finding]:
    """Capacitor controllers name the element they monitor as ``"table.id"``."""
    cc = net.cap_control
    given = cc["element"] != ""
    if not given.any():
        return []
    refs = pd.Series(cc["element"][given]).str.partition(".")
    tables, ids = refs[0].to_numpy(), refs[2].to_numpy()
    bad = np.ones(len(tables), dtype=bool)
    for table in set(tables.tolist()) & set(net.table_names):
        at = tables == table
        bad[at] = ctx.rows(table, ids[at]) < 0
    return [
        Finding(ERROR, "unknown-element", "cap_control", (owner,), field="element", value=ref,
                message=f"monitors {ref!r}, which does not exist",
                fix="name the monitored element as 'table.id', for example 'line.L12'")
        for owner, ref in zip(cc.ids[given][bad].tolist(), cc["element"][given][bad].tolist())
    ]


def check_missing_values(net: Network, ctx: Context) -> list[Finding]:
    """Required columns hold a value: not '' for ids, not NaN for numbers, some phase for phases."""
    out = []
    for name, t in net.tables():
        if not len(t):
            continue
        for f in t.schema.fields:
            if (name, f.name) in _OWN_MISSING:
                continue
            winding = name == "transformer" and f.name in _WINDING_REQUIRED
            if not (f.required or winding):
                continue
            for label, values, applies in _columns(net, name, f):
                if f.kind == "str":
                    bad = values == ""
                elif f.kind == "float":
                    bad = ~np.isfinite(values)
                    if winding:
                        bad |= values <= 0
                elif f.enum is Phase:
                    bad = values == 0
                else:
                    continue
                if bad.ndim > 1:
                    bad = bad.any(axis=1)
                bad &= applies
                if bad.any():
                    first = values[np.flatnonzero(bad)[0]]
                    shown = "empty" if isinstance(first, str) else "missing" if f.kind == "enum" else _fmt(first)
                    out.append(Finding.many(
                        ERROR, "missing-value", name, t.ids[bad], field=label,
                        value=None if f.kind == "enum" else first,
                        message=f"{label} is {shown} but required ({f.doc})",
                        fix=f"give {label}" + (f" in {f.unit}" if f.unit else "")))
    return out


def check_ranges(net: Network, ctx: Context) -> list[Finding]:
    """Numbers within their column's declared range; enum columns hold one of their members."""
    out = []
    for name, t in net.tables():
        if not len(t):
            continue
        for f in t.schema.fields:
            if (name, f.name) in _OWN_RANGE or f.kind not in ("float", "int", "enum"):
                continue
            for label, values, applies in _columns(net, name, f):
                if f.enum is Phase:
                    bad = (values < 0) | (values > 31)
                    allowed = "Phase flags 1 ... 31"
                    fix = f"give {label} as phase letters (A, B, C, S1, S2)"
                elif f.enum is not None:
                    bad = ~np.isin(values, [int(m) for m in f.enum])
                    allowed = "one of " + ", ".join(f"{int(m)} ({m.name})" for m in f.enum)
                    fix = f"set {label} to one of: {', '.join(m.name for m in f.enum)}"
                elif f.low is not None or f.high is not None:
                    low = -np.inf if f.low is None else f.low
                    high = np.inf if f.high is None else f.high
                    bad = np.isfinite(values) & ((values < low) | (values > high))
                    allowed = (f"within {'' if f.low is None else _fmt(f.low)} ... "
                               f"{'' if f.high is None else _fmt(f.high)} {f.unit}").strip()
                    fix = f"give {label} {allowed}"
                else:
                    continue
                if bad.ndim > 1:
                    bad &= applies[:, None]
                    rows = bad.any(axis=1)
                else:
                    bad &= applies
                    rows = bad
                if rows.any():
                    first = values[bad][0]
                    out.append(Finding.many(
                        ERROR, "out-of-range", name, t.ids[rows], field=label, value=first,
                        message=f"{label} ({f.doc}) is {_fmt(first, f.unit)}, not {allowed}", fix=fix))
    return out


# -- whole model ----------------------------------------------------------------------------------


def check_sources(net: Network, ctx: Context) -> list[Finding]:
    """A model needs a source; a source's voltage should match its bus."""
    if not len(net.source):
        return [Finding(ERROR, "no-source", "source", message="the model has no source",
                        fix="add a source at the feeder head: the transmission equivalent behind the substation")]
    src = net.source
    v_bus = ctx.lookup("bus", "v_nom_v", src["bus"], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = src["v_nom_v"] / v_bus
    bad = np.isfinite(ratio) & (v_bus > 0) & (np.abs(ratio - 1.0) > VOLTAGE_TOLERANCE)
    return [
        Finding(WARNING, "voltage-mismatch", "source", (id_,), field="v_nom_v", value=float(v),
                message=f"base voltage {_fmt(v, 'V')} on bus {b} of {_fmt(vb, 'V')} nominal ({_pct(r)})",
                fix="correct the source's voltage or the bus's nominal voltage")
        for id_, v, b, vb, r in zip(src.ids[bad], src["v_nom_v"][bad], src["bus"][bad], v_bus[bad], ratio[bad])
    ]


def check_self_loops(net: Network, ctx: Context) -> list[Finding]:
    """A branch whose two ends are the same bus carries nothing and breaks the topology."""
    out = []
    for name in ("line", "switch"):
        t = net.table(name)
        bad = (t["from_bus"] == t["to_bus"]) & (t["from_bus"] != "")
        out += [Finding(ERROR, "self-loop", name, (id_,), field="to_bus", value=b,
                        message=f"both ends are bus {b!r}", fix="correct the from or to bus")
                for id_, b in zip(t.ids[bad].tolist(), t["to_bus"][bad].tolist())]
    xf = net.transformer
    if len(xf):
        wb = xf["bus"]
        for k in (1, 2):
            bad = (xf["n_windings"] > k) & (wb[:, k] == wb[:, 0]) & (wb[:, 0] != "")
            out += [Finding(ERROR, "self-loop", "transformer", (id_,), field=f"bus.{k + 1}", value=b,
                            message=f"winding {k + 1} is on bus {b!r}, the same bus as winding 1",
                            fix="connect each winding to its own bus")
                    for id_, b in zip(xf.ids[bad].tolist(), wb[bad, 0].tolist())]
    return out


def check_phases_at_bus(net: Network, ctx: Context) -> list[Finding]:
    """An element can only use phases its bus has. At a normally open switch it is a warning: the
    tie does nothing until closed, and then cannot restore the phase it lacks."""
    out = []

    def check(name: str, ids: np.ndarray, ph: np.ndarray, bus_ids: np.ndarray, applies: np.ndarray,
              tie: np.ndarray, field: str = "phases") -> None:
        have = ctx.lookup("bus", "phases", bus_ids, -1).astype(np.int64)  # -1: unknown bus, reported elsewhere
        bad = applies & ((ph.astype(np.int64) & ~have) != 0)
        for id_, p, b, h, t in zip(ids[bad].tolist(), ph[bad].tolist(), bus_ids[bad].tolist(), have[bad].tolist(),
                                   tie[bad].tolist()):
            what = "normally open switch: closing it would not connect" if t else "uses"
            out.append(Finding(
                WARNING if t else ERROR, "phase-not-at-bus", name, (id_,), field=field, value=phase_text(p),
                message=f"{what} phase(s) {phase_text(p & ~h)}: bus {b} has only {phase_text(h) or 'none'}",
                fix="correct the element's phases or the bus's phases"))

    for name, cols in (("line", ("from_bus", "to_bus")), ("switch", ("from_bus", "to_bus")),
                       ("load", ("bus",)), ("capacitor", ("bus",)), ("generator", ("bus",))):
        t = net.table(name)
        tie = t["normal_open"] if name == "switch" else np.zeros(len(t), dtype=bool)
        for c in cols:
            check(name, t.ids, t["phases"], t[c], np.ones(len(t), dtype=bool), tie)
    xf = net.transformer
    for k in range(3):
        check("transformer", xf.ids, xf["phases"][:, k], xf["bus"][:, k], xf["n_windings"] > k,
              np.zeros(len(xf), dtype=bool), f"phases.{k + 1}")
    return out


# -- lines and line codes -------------------------------------------------------------------------


def check_line_length(net: Network, ctx: Context) -> list[Finding]:
    """A line has a positive length; a zero-length connection is a switch (or a jumper)."""
    ln = net.line
    length = ln["length_m"]
    bad = np.isfinite(length) & (length <= 0)
    return [
        Finding(ERROR, "line-length", "line", (id_,), field="length_m", value=float(v),
                message=f"length is {_fmt(v, 'm')}",
                fix="a line needs a positive length; use a switch for a zero-length connection" if v == 0
                else "a line needs a positive length; check the sign and the length units")
        for id_, v in zip(ln.ids[bad].tolist(), length[bad].tolist())
    ]


def check_long_lines(net: Network, ctx: Context) -> list[Finding]:
    """A line thousands of times longer than the lines beside it is usually a units slip (km as m)."""
    ln = net.line
    length = ln["length_m"]
    if len(ln) < 2:
        return []
    ends = pd.DataFrame({
        "line": np.concatenate([np.arange(len(ln))] * 2),
        "bus": np.concatenate([ln["from_bus"], ln["to_bus"]]),
    })
    pairs = ends.merge(ends, on="bus", suffixes=("", "_n"))
    pairs = pairs[pairs["line"] != pairs["line_n"]].drop_duplicates(["line", "line_n"])
    if pairs.empty:
        return []
    pairs["length_n"] = length[pairs["line_n"].to_numpy()]
    median = pairs.groupby("line")["length_n"].median()
    rows = median.index.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = length[rows] / median.to_numpy()
    bad = np.isfinite(ratio) & (median.to_numpy() > 0) & (ratio > LONG_LINE_RATIO)
    return [
        Finding(WARNING, "long-line", "line", (ln.ids[r],), field="length_m", value=float(length[r]),
                message=f"length {_fmt(length[r], 'm')} is {q:,.0f} times the median of the lines beside it "
                        f"({_fmt(m, 'm')})",
                fix="check the length and its units: km written as m?")
        for r, q, m in zip(rows[bad].tolist(), ratio[bad].tolist(), median.to_numpy()[bad].tolist())
    ]


_SLOT = "abc"


def check_line_codes(net: Network, ctx: Context) -> list[Finding]:
    """Self impedances positive on every conductor, matrices symmetric, a plausible X/R."""
    lc = net.line_code
    if not len(lc):
        return []
    r, x = lc["r_ohm_per_m"], lc["x_ohm_per_m"]
    finite = np.isfinite(r).all(axis=(1, 2)) & np.isfinite(x).all(axis=(1, 2))
    r, x = np.nan_to_num(r), np.nan_to_num(x)
    nz = (r != 0) | (x != 0)
    present = nz.any(axis=2) | nz.any(axis=1)  # (n, 3): slot has any impedance
    out = []
    n_present = present.sum(axis=1)
    few = finite & (n_present < lc["n_phases"])
    out += [Finding(ERROR, "line-code-impedance", "line_code", (id_,), field="r_ohm_per_m", value=int(k),
                    message=f"has {n} phases but impedance on only {k} conductors",
                    fix="give the self and mutual impedance of every conductor")
            for id_, n, k in zip(lc.ids[few].tolist(), lc["n_phases"][few].tolist(), n_present[few].tolist())]
    by_lines, by_reactors = _code_use(net, ctx)
    reactor_only = by_reactors & ~by_lines
    for field, m, what in (("r_ohm_per_m", r, "resistance"), ("x_ohm_per_m", x, "reactance")):
        diag = np.diagonal(m, axis1=1, axis2=2)
        negative = present & (diag < 0) & finite[:, None]
        zero = present & (diag == 0) & finite[:, None]
        if field == "r_ohm_per_m":
            zero &= ~reactor_only[:, None]  # a series reactor may be pure reactance
        for bad, sev, fix in (
            (negative, ERROR, f"a conductor's self {what} must be positive; check the sign"),
            (zero, WARNING, "a conductor has both resistance and reactance; model a zero-impedance jumper as a switch"),
        ):
            for i, k in zip(*np.nonzero(bad)):
                out.append(Finding(sev, "line-code-impedance", "line_code", (lc.ids[i],), field=field,
                                   value=float(diag[i, k]),
                                   message=f"self {what} of conductor {_SLOT[k]} is {_fmt(diag[i, k], 'ohm/m')}",
                                   fix=fix))
    for field, m in (("r_ohm_per_m", r), ("x_ohm_per_m", x)):
        scale = np.abs(m).max(axis=(1, 2))
        asym = np.abs(m - m.transpose(0, 2, 1)).max(axis=(1, 2))
        bad = finite & (asym > 1e-3 * scale)
        out += [Finding(ERROR, "line-code-asymmetric", "line_code", (id_,), field=field, value=float(a),
                        message=f"{field} matrix is not symmetric (differs by {_fmt(a, 'ohm/m')})",
                        fix="mutual impedances are reciprocal: make the matrix symmetric")
                for id_, a in zip(lc.ids[bad].tolist(), asym[bad].tolist())]
    out += _xr(net, r, x, present, finite & by_lines)
    return out


def _code_use(net: Network, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Per line code: used by some line other than a reactor; used by some reactor."""
    ln = net.line
    rows = ctx.rows("line_code", ln["code"])
    reactor = ln["kind"] == LineKind.reactor
    use = []
    for sel in (~reactor, reactor):
        used = np.zeros(len(net.line_code), dtype=bool)
        at = rows[sel]
        used[at[at >= 0]] = True
        use.append(used)
    return use[0], use[1]


def _xr(net: Network, r: np.ndarray, x: np.ndarray, present: np.ndarray, check: np.ndarray) -> list[Finding]:
    """X/R of the positive-sequence-like impedance (mean self minus mean mutual) of the codes marked
    in ``check``: those lines other than reactors use (a series reactor is almost pure reactance,
    and an unused code harms nothing)."""
    k = present.sum(axis=1)
    pair = present[:, :, None] & present[:, None, :]
    off = pair & ~np.eye(3, dtype=bool)
    n_off = off.sum(axis=(1, 2))

    def seq(m: np.ndarray) -> np.ndarray:
        self_ = np.where(present, np.diagonal(m, axis1=1, axis2=2), 0).sum(axis=1) / np.maximum(k, 1)
        mutual = np.where(off, m, 0).sum(axis=(1, 2)) / np.maximum(n_off, 1)
        return self_ - mutual

    r1, x1 = seq(r), seq(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        xr = x1 / r1
    lo, hi = XR_RANGE
    bad = check & (k > 0) & (r1 > 0) & (x1 > 0) & ((xr < lo) | (xr > hi))
    lc = net.line_code
    return [Finding(WARNING, "line-code-xr", "line_code", (id_,), field="x_ohm_per_m", value=float(q),
                    message=f"positive-sequence X/R is {q:.3g} (R1 {r_:.3g} ohm/km, X1 {x_:.3g} ohm/km), "
                            f"outside {lo:g} ... {hi:g}",
                    fix="check the R and X values and their units")
            for id_, q, r_, x_ in zip(lc.ids[bad].tolist(), xr[bad].tolist(), (r1[bad] * 1e3).tolist(),
                                      (x1[bad] * 1e3).tolist())]


def check_line_code_phases(net: Network, ctx: Context) -> list[Finding]:
    """A line cannot use more conductors than its line code describes."""
    ln = net.line
    n_code = ctx.lookup("line_code", "n_phases", ln["code"], -1)
    n_line = popcount(ln["phases"])
    bad = (n_code >= 0) & (n_line > n_code)
    return [Finding(ERROR, "line-code-phases", "line", (id_,), field="code", value=c,
                    message=f"uses {n} phases but line code {c!r} has {m}",
                    fix="use a line code with as many phases as the line, or correct the line's phases")
            for id_, c, n, m in zip(ln.ids[bad].tolist(), ln["code"][bad].tolist(), n_line[bad].tolist(),
                                    n_code[bad].tolist())]


# -- transformers and regulators ------------------------------------------------------------------


def check_transformer_reactance(net: Network, ctx: Context) -> list[Finding]:
    """Leakage reactance limits fault current and sets voltage drop; zero is suspicious, negative wrong."""
    xf = net.transformer
    out = []
    for field, needs in (("x_hl_pct", 2), ("x_ht_pct", 3), ("x_lt_pct", 3)):
        v = xf[field]
        applies = xf["n_windings"] >= needs
        for bad, sev, word in ((applies & (v < 0), ERROR, "negative"), (applies & (v == 0), WARNING, "zero")):
            out += [Finding(sev, "transformer-reactance", "transformer", (id_,), field=field, value=float(x),
                            message=f"leakage reactance {field} is {word} ({_fmt(x, '%')})",
                            fix="give the nameplate impedance, typically 1-8% for a distribution transformer")
                    for id_, x in zip(xf.ids[bad].tolist(), v[bad].tolist())]
    return out


def check_transformer_voltage(net: Network, ctx: Context) -> list[Finding]:
    """Each winding's rating matches its bus's nominal voltage within 10% (see :func:`line_to_line_v`)."""
    xf = net.transformer
    if not len(xf):
        return []
    v_bus = ctx.lookup("bus", "v_nom_v", xf["bus"], np.nan)
    bus_ph = ctx.lookup("bus", "phases", xf["bus"], 0)
    v_ll = line_to_line_v(xf["v_rated_v"], xf["phases"], xf["conn"], bus_ph)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = v_ll / v_bus
    applies = np.arange(3)[None, :] < xf["n_windings"][:, None]
    bad = applies & np.isfinite(ratio) & (v_bus > 0) & (np.abs(ratio - 1.0) > VOLTAGE_TOLERANCE)
    out = []
    for i, k in zip(*np.nonzero(bad)):
        v, vll, b = xf["v_rated_v"][i, k], v_ll[i, k], xf["bus"][i, k]
        as_ll = f" ({_fmt(vll, 'V')} line-to-line)" if vll != v else ""
        out.append(Finding(
            WARNING, "voltage-mismatch", "transformer", (xf.ids[i],), field=f"v_rated_v.{k + 1}", value=float(v),
            message=f"winding {k + 1} rated {_fmt(v, 'V')}{as_ll} on bus {b} of {_fmt(v_bus[i, k], 'V')} "
                    f"nominal ({_pct(ratio[i, k])})",
            fix="correct the winding voltage or the bus's nominal voltage; a single-phase wye winding is "
                "rated line-to-neutral"))
    return out


def check_regulators(net: Network, ctx: Context) -> list[Finding]:
    """Bandwidth positive, set point on the 120 V base within a plausible range, winding present."""
    reg = net.regulator
    out = []
    band = reg["band_v"]
    bad = ~(band > 0) | (band > 20.0)
    out += [Finding(WARNING, "regulator-band", "regulator", (id_,), field="band_v", value=float(b),
                    message=f"bandwidth is {_fmt(b, 'V')}",
                    fix="give a bandwidth above 0 V on the 120 V base, typically 1-3 V, so the taps do not hunt")
            for id_, b in zip(reg.ids[bad].tolist(), band[bad].tolist())]
    vset = reg["v_set_v"]
    lo, hi = SETPOINT_RANGE_V
    bad = ~((vset >= lo) & (vset <= hi))
    out += [Finding(WARNING, "regulator-setpoint", "regulator", (id_,), field="v_set_v", value=float(v),
                    message=f"set point {_fmt(v, 'V')} on the 120 V base is outside {lo:g} ... {hi:g} V",
                    fix="give the set point on the 120 V base, typically 118-126 V")
            for id_, v in zip(reg.ids[bad].tolist(), vset[bad].tolist())]
    n_w = ctx.lookup("transformer", "n_windings", reg["transformer"], 99)  # unknown: reported elsewhere
    bad = reg["winding"] > n_w
    out += [Finding(ERROR, "regulator-winding", "regulator", (id_,), field="winding", value=int(w),
                    message=f"controls winding {w} of transformer {t!r}, which has {n} windings",
                    fix="give a winding the transformer has, usually 2")
            for id_, w, t, n in zip(reg.ids[bad].tolist(), reg["winding"][bad].tolist(),
                                    reg["transformer"][bad].tolist(), n_w[bad].tolist())]
    return out


# -- loads, capacitors, generators, customers -----------------------------------------------------


def check_rated_voltage(net: Network, ctx: Context) -> list[Finding]:
    """Shunt elements need a rated voltage (their power is given at it) close to their bus's."""
    out = []
    for name in ("load", "capacitor", "generator"):
        t = net.table(name)
        v = t["v_rated_v"]
        bad = ~(v > 0)
        out += [Finding(ERROR, "rated-voltage", name, (id_,), field="v_rated_v", value=float(x),
                        message=f"rated voltage is {_fmt(x, 'V')}",
                        fix=f"give the {name}'s rated voltage, line-to-neutral for a single-phase wye {name}")
                for id_, x in zip(t.ids[bad].tolist(), v[bad].tolist())]
        v_bus = ctx.lookup("bus", "v_nom_v", t["bus"], np.nan)
        bus_ph = ctx.lookup("bus", "phases", t["bus"], 0)
        v_ll = line_to_line_v(v, t["phases"], t["conn"], bus_ph)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = v_ll / v_bus
        off = (v > 0) & (v_bus > 0) & np.isfinite(ratio) & (np.abs(ratio - 1.0) > VOLTAGE_TOLERANCE)
        if not off.any():
            continue
        # Models often rate whole classes of load alike: one finding per (rating, bus voltage) pair.
        frame = pd.DataFrame({"id": t.ids[off], "v": v[off], "ll": v_ll[off], "bus": v_bus[off]})
        for (vr, vll, vb), grp in frame.groupby(["v", "ll", "bus"], sort=True):
            as_ll = f" ({_fmt(vll, 'V')} line-to-line)" if vll != vr else ""
            n = len(grp)
            what = f"{n} {name}s are" if n > 1 else "is"
            out.append(Finding.many(
                WARNING, "voltage-mismatch", name, grp["id"].to_numpy(), field="v_rated_v", value=float(vr),
                message=f"{what} rated {_fmt(vr, 'V')}{as_ll} on buses of {_fmt(vb, 'V')} nominal "
                        f"({_pct(vll / vb)})",
                fix=f"correct the {name} rating or the bus's nominal voltage; a single-phase wye {name} is "
                    f"rated line-to-neutral"))
    return out


def check_unserved_customers(net: Network, ctx: Context) -> list[Finding]:
    """A customer on a secondary (below 1 kV) is served by a transformer, which outage management
    needs to know: a transformer outage is the most common one. One finding for all of them (an
    importer or generator that leaves the association out leaves it out everywhere)."""
    sp = net.service_point
    if not len(sp):
        return []
    v_bus = ctx.lookup("bus", "v_nom_v", sp["bus"], np.nan)
    bad = (sp["transformer"] == "") & (v_bus < SECONDARY_BELOW_V)
    if not bad.any():
        return []
    buses = pd.unique(sp["bus"][bad])
    on = ", ".join(buses[:3].tolist()) + (f" and {len(buses) - 3} more" if len(buses) > 3 else "")
    return [Finding.many(ERROR, "unserved-customer", "service_point", sp.ids[bad], field="transformer", value="",
                         message=f"{int(bad.sum())} service point(s) on secondary buses ({on}) have no transformer",
                         fix="set each one's transformer to the service transformer that feeds its secondary; "
                             "twin.grid.topology.serving_transformers gives it")]


def check_protection_ratings(net: Network, ctx: Context) -> list[Finding]:
    """Breakers, reclosers and fuses need a continuous rating; breakers and reclosers an interrupting
    rating too (short-circuit duty checks and protection coordination read them)."""
    sw = net.switch
    kind = sw["kind"]
    protective = np.isin(kind, [int(k) for k in PROTECTIVE_KINDS])
    interrupting = np.isin(kind, [int(SwitchKind.breaker), int(SwitchKind.recloser)])
    no_rating = protective & (np.isnan(sw["rated_a"]) | (sw["rated_a"] == 0))
    no_breaking = interrupting & (np.isnan(sw["breaking_a"]) | (sw["breaking_a"] == 0))
    out = []
    for i in np.flatnonzero(no_rating | no_breaking):
        missing = [f for f, m in (("rated_a", no_rating[i]), ("breaking_a", no_breaking[i])) if m]
        what = " and ".join({"rated_a": "continuous rating", "breaking_a": "interrupting rating"}[f] for f in missing)
        out.append(Finding(WARNING, "protective-rating", "switch", (sw.ids[i],), field=missing[0],
                           value=float(sw[missing[0]][i]),
                           message=f"{SwitchKind(int(kind[i])).name} has no {what}",
                           fix="give " + " and ".join(f"{f} in A" for f in missing)
                               + " from the device nameplate or fuse link"))
    return out


def check_fault_indicators(net: Network, ctx: Context) -> list[Finding]:
    """A fault indicator senses phases its line carries, and a voltage or timed reset needs its
    time. (Its line must exist: ``unknown-line``; its pickup against the load current is a
    power-flow check, ``fci-pickup``.)"""
    fci = net.fault_indicator
    if not len(fci):
        return []
    have = ctx.lookup("line", "phases", fci["line"], -1).astype(np.int64)  # -1: unknown line, reported elsewhere
    ph = fci["phases"].astype(np.int64)
    bad = (have >= 0) & ((ph & ~have) != 0)
    out = [Finding(ERROR, "fci-phases", "fault_indicator", (i,), field="phases", value=phase_text(p),
                   message=f"senses phase(s) {phase_text(p & ~h)}, which line {ln} does not carry "
                           f"(it has {phase_text(h) or 'none'})",
                   fix="give the phases of the line it is clamped on, or move it to the right line")
           for i, p, h, ln in zip(fci.ids[bad].tolist(), ph[bad].tolist(), have[bad].tolist(),
                                  fci["line"][bad].tolist())]
    timed = fci["reset"] != int(IndicatorReset.manual)
    no_time = timed & ~(fci["reset_s"] > 0)
    if no_time.any():
        out.append(Finding.many(WARNING, "fci-reset", "fault_indicator", fci.ids[no_time], field="reset_s",
                                value=float(fci["reset_s"][no_time][0]),
                                message=f"{int(no_time.sum())} voltage- or timed-reset indicator(s) have no reset "
                                        f"time: they would clear the instant they flag",
                                fix="give reset_s in s (voltage reset: tens of seconds; timed: 2, 4, 8 or 24 h), "
                                    "or set reset to manual"))
    return out


# -- buses ----------------------------------------------------------------------------------------


def check_coordinates(net: Network, ctx: Context) -> list[Finding]:
    """Buses without coordinates cannot be drawn or located by crews: one finding for all of them."""
    bus = net.bus
    bad = ~(np.isfinite(bus["x"]) & np.isfinite(bus["y"]))
    n = int(bad.sum())
    if not n:
        return []
    what = "no bus has coordinates" if n == len(bus) else f"{n} of {len(bus)} buses have no coordinates"
    return [Finding.many(WARNING, "missing-coordinates", "bus", bus.ids[bad], field="x",
                         message=what, fix="give x, y for every bus; in OpenDSS, a BusCoords file")]


def check_bus_voltage(net: Network, ctx: Context) -> list[Finding]:
    """Per-unit results and the voltage checks need every bus's nominal voltage. Buses no source
    reaches are left to ``unreached`` (an importer cannot tell their voltage either)."""
    bus = net.bus
    bad = ~(bus["v_nom_v"] > 0)
    topo = ctx.topology
    if topo is not None and len(topo.net.source) and bad.any():
        live = pd.Index(topo.net.bus.ids[topo.energised])
        bad &= live.get_indexer(bus.ids) >= 0
    if not bad.any():
        return []
    return [Finding.many(WARNING, "bus-voltage", "bus", bus.ids[bad], field="v_nom_v",
                         message=f"{int(bad.sum())} bus(es) have no nominal voltage",
                         fix="give v_nom_v; in OpenDSS, set the voltage bases and run CalcVoltageBases")]


MODEL_RULES: tuple[Rule, ...] = (
    check_duplicate_ids,
    check_references,
    check_missing_values,
    check_ranges,
    check_sources,
    check_self_loops,
    check_phases_at_bus,
    check_line_length,
    check_long_lines,
    check_line_codes,
    check_line_code_phases,
    check_transformer_reactance,
    check_transformer_voltage,
    check_regulators,
    check_rated_voltage,
    check_unserved_customers,
    check_protection_ratings,
    check_fault_indicators,
    check_coordinates,
    check_bus_voltage,
)

RULES: tuple[Rule, ...] = MODEL_RULES + TOPOLOGY_RULES
"""Every rule ``validate`` runs, in order. The power-flow checks (next issue) join here as one more
tuple of rules from their own module."""
