"""The OpenDSS classes the importer reads, the ones it skips and the ones it refuses.

:data:`PROPERTIES` lists, for each class read, its properties in OpenDSS's own order: a positional
value (``New Line.L1 650 632``) sets the property after the last one set, and an abbreviated name
(``len=`` for ``length=``, ``pctr`` for ``%r``) means the first property it starts, as in OpenDSS:

>>> resolve_property("line", "len"), resolve_property("transformer", "pctr")
('length', '%r')

:data:`IGNORED` classes (meters, curves, conductor data, DER controls) are skipped with a note
saying why; :data:`UNSUPPORTED` ones are equipment Twin cannot represent and stop the import.
"""

from __future__ import annotations

__all__ = ["DISPLAY", "IGNORED", "PROPERTIES", "UNSUPPORTED", "resolve_property"]

_PD = ("normamps", "emergamps", "faultrate", "pctperm", "repair", "basefreq", "enabled", "like")
_PC = ("spectrum", "basefreq", "enabled", "like")
_CONTROL = ("basefreq", "enabled", "like")
_WINDING = ("wdg", "bus", "conn", "kv", "kva", "tap", "%r", "rneut", "xneut")
_XFMR_DATA = ("conns", "kvs", "kvas", "taps", "xhl", "xht", "xlt", "xscarray", "thermal", "n", "m",
              "flrise", "hsrise", "%loadloss", "%noloadloss", "normhkva", "emerghkva")

PROPERTIES: dict[str, tuple[str, ...]] = {
    "vsource": ("bus1", "basekv", "pu", "angle", "frequency", "phases", "mvasc3", "mvasc1", "x1r1", "x0r0",
                "isc3", "isc1", "r1", "x1", "r0", "x0", "scantype", "sequence", "bus2", "z1", "z0", "z2",
                "puz1", "puz0", "puz2", "basemva", "yearly", "daily", "duty", "model", "puzideal") + _PC,
    "linecode": ("nphases", "r1", "x1", "r0", "x0", "c1", "c0", "units", "rmatrix", "xmatrix", "cmatrix",
                 "basefreq", "normamps", "emergamps", "faultrate", "pctperm", "repair", "kron", "rg", "xg",
                 "rho", "neutral", "b1", "b0", "seasons", "ratings", "linetype", "like"),
    "line": ("bus1", "bus2", "linecode", "length", "phases", "r1", "x1", "r0", "x0", "c1", "c0", "rmatrix",
             "xmatrix", "cmatrix", "switch", "rg", "xg", "rho", "geometry", "units", "spacing", "wires",
             "earthmodel", "cncables", "tscables", "b1", "b0", "seasons", "ratings", "linetype") + _PD,
    "transformer": ("phases", "windings") + _WINDING + ("buses",) + _XFMR_DATA
    + ("sub", "maxtap", "mintap", "numtaps", "subname", "%imag", "ppm_antifloat", "%rs", "bank", "xfmrcode",
       "xrconst", "x12", "x13", "x23", "leadlag", "wdgcurrents", "core", "rdcohms", "seasons", "ratings") + _PD,
    "xfmrcode": ("phases", "windings") + tuple(p for p in _WINDING if p != "bus") + _XFMR_DATA
    + ("maxtap", "mintap", "numtaps", "%imag", "ppm_antifloat", "%rs", "x12", "x13", "x23", "rdcohms",
       "seasons", "ratings", "like"),
    "regcontrol": ("transformer", "winding", "vreg", "band", "ptratio", "ctprim", "r", "x", "bus", "delay",
                   "reversible", "revvreg", "revband", "revr", "revx", "tapdelay", "debugtrace", "maxtapchange",
                   "inversetime", "tapwinding", "vlimit", "ptphase", "revthreshold", "revdelay", "revneutral",
                   "eventlog", "remoteptratio", "tapnum", "reset", "ldc_z", "rev_z", "cogen") + _CONTROL,
    "capacitor": ("bus1", "bus2", "phases", "kvar", "kv", "conn", "cmatrix", "cuf", "r", "xl", "harm",
                  "numsteps", "states") + _PD,
    "capcontrol": ("element", "terminal", "capacitor", "type", "ptratio", "ctratio", "onsetting", "offsetting",
                   "delay", "voltoverride", "vmax", "vmin", "delayoff", "deadtime", "ctphase", "ptphase", "vbus",
                   "eventlog", "usermodel", "userdata", "pctminkvar", "reset") + _CONTROL,
    "load": ("phases", "bus1", "kv", "kw", "pf", "model", "yearly", "daily", "duty", "growth", "conn", "kvar",
             "rneut", "xneut", "status", "class", "vminpu", "vmaxpu", "vminnorm", "vminemerg", "xfkva",
             "allocationfactor", "kva", "%mean", "%stddev", "cvrwatts", "cvrvars", "kwh", "kwhdays", "cfactor",
             "cvrcurve", "numcust", "zipv", "%seriesrl", "relweight", "vlowpu", "puxharm", "xrharm") + _PC,
    "reactor": ("bus1", "bus2", "phases", "kvar", "kv", "conn", "rmatrix", "xmatrix", "parallel", "r", "x",
                "rp", "z1", "z2", "z0", "z", "rcurve", "lcurve", "lmh") + _PD,
    "generator": ("phases", "bus1", "kv", "kw", "pf", "kvar", "model", "vminpu", "vmaxpu", "yearly", "daily",
                  "duty", "dispmode", "dispvalue", "conn", "rneut", "xneut", "status", "class", "vpu",
                  "maxkvar", "minkvar", "pvfactor", "forceon", "kva", "mva", "xd", "xdp", "xdpp", "h", "d")
    + _PC,
    "pvsystem": ("phases", "bus1", "kv", "irradiance", "pmpp", "%pmpp", "temperature", "pf", "conn", "kvar",
                 "kva", "%cutin", "%cutout", "effcurve", "p-tcurve", "%r", "%x", "model", "vminpu", "vmaxpu",
                 "balanced", "limitcurrent", "yearly", "daily", "duty", "tyearly", "tdaily", "tduty", "class")
    + _PC,
    "fuse": ("monitoredobj", "monitoredterm", "switchedobj", "switchedterm", "fusecurve", "ratedcurrent",
             "delay", "action", "normal", "state") + _CONTROL,
    "recloser": ("monitoredobj", "monitoredterm", "switchedobj", "switchedterm", "numfast", "phasefast",
                 "phasedelayed", "groundfast", "grounddelayed", "phasetrip", "groundtrip", "phaseinst",
                 "groundinst", "reset", "shots", "recloseintervals", "delay", "action", "tdphfast", "tdgrfast",
                 "tdphdelayed", "tdgrdelayed", "normal", "state") + _CONTROL,
    "relay": ("monitoredobj", "monitoredterm", "switchedobj", "switchedterm", "type", "phasecurve",
              "groundcurve", "phasetrip", "groundtrip", "tdphase", "tdground", "phaseinst", "groundinst", "reset",
              "shots", "recloseintervals", "delay", "overvoltcurve", "undervoltcurve", "kvbase", "47%pickup",
              "46baseamps", "46%pickup", "46isqt", "variable", "overtrip", "undertrip", "breakertime", "action",
              "z1mag", "z1ang", "z0mag", "z0ang", "mphase", "mground", "eventlog", "debugtrace", "distreverse",
              "normal", "state") + _CONTROL,
    "swtcontrol": ("switchedobj", "switchedterm", "action", "lock", "delay", "normal", "state", "reset")
    + _CONTROL,
}

DISPLAY = {
    "vsource": "Vsource", "linecode": "LineCode", "line": "Line", "transformer": "Transformer",
    "xfmrcode": "XfmrCode", "regcontrol": "RegControl", "capacitor": "Capacitor", "capcontrol": "CapControl",
    "load": "Load", "reactor": "Reactor", "generator": "Generator", "pvsystem": "PVSystem", "fuse": "Fuse",
    "recloser": "Recloser", "relay": "Relay", "swtcontrol": "SwtControl",
}

IGNORED = {
    **dict.fromkeys(("energymeter", "monitor", "sensor"), "a measurement object"),
    **dict.fromkeys(("loadshape", "growthshape", "tshape", "priceshape", "xycurve", "spectrum", "tcc_curve"),
                    "a curve or time series, not equipment"),
    **dict.fromkeys(("linegeometry", "wiredata", "cndata", "tsdata", "linespacing"),
                    "conductor data, used only by lines that name a geometry"),
    **dict.fromkeys(("invcontrol", "expcontrol", "storagecontroller", "gendispatcher", "genctrl",
                     "upfccontrol", "esvplcontrol", "vvcontrol", "capusercontrol"), "a DER or dispatch control"),
    "fault": "a fault study object",
}

UNSUPPORTED = ("isource", "autotrans", "gictransformer", "gicline", "gicsource", "upfc", "vsconverter",
               "indmach012", "storage", "windgen", "vccs", "dynamiceq", "generic5", "equivalent")


def resolve_property(cls: str, name: str) -> str | None:
    """Canonical property of ``cls`` that ``name`` spells (exact, ``pct`` for ``%``, or a prefix)."""
    props = PROPERTIES[cls]
    word = name.lower()
    if word in props:
        return word
    if word.startswith("pct") and "%" + word[3:] in props:
        return "%" + word[3:]
    for prop in props:  # OpenDSS takes the first property the abbreviation starts
        if prop.startswith(word):
            return prop
    return None

