"""The model validator: check a whole network model and report every problem at once.

:func:`validate` runs every rule of :data:`~twin.grid.validate.rules.RULES` (and, on a model
without errors, the power-flow rules of :mod:`~twin.grid.validate.rules_powerflow` and the
protection rules of :mod:`~twin.grid.validate.rules_protection`) over a
:class:`~twin.grid.network.Network` and returns a :class:`Report`; :func:`validate_path` first loads
an OpenDSS master file or a native model folder and turns a failure to load into an error finding
with the file and line, so a broken model still gives a report, not a traceback:

>>> from twin.grid.network import Network
>>> report = validate(Network.empty("empty"))
>>> report.headline(), [f.rule for f in report.errors]
('1 error, 1 warning in empty', ['no-source'])

A rule is a function ``(net, ctx) -> list[Finding]`` (see :mod:`twin.grid.validate.rules` and
:mod:`~twin.grid.validate.rules_topology` for the rules and their codes). Three more codes come
from here: ``parse-error`` (the file and line a model file could not be read at), ``load-error``
(a model that is missing or inconsistent as a whole) and ``internal-error``: a rule (or an
importer) that raises becomes a finding naming it, so the validator itself never fails on a
model, however broken.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from twin.errors import ModelError, ParseError
from twin.grid.network import Network
from twin.grid.validate.context import Context, Rule
from twin.grid.validate.findings import Finding, Report, Severity
from twin.grid.validate.rules import RULES
from twin.grid.validate.rules_powerflow import POWERFLOW_RULES
from twin.grid.validate.rules_protection import PROTECTION_RULES

__all__ = ["validate", "validate_path", "Finding", "Severity", "Report", "Rule", "RULES"]


def validate(net: Network, *, source_path: str | Path | None = None, rules: Sequence[Rule] = RULES,
             power_flow: bool = True) -> Report:
    """Every finding of ``rules`` (all of them by default) about ``net``, with its summary;
    ``source_path`` says in the report where the model came from (default: ``net.origin``).

    With ``power_flow`` (the default) a model that has no errors is then solved as it stands and
    checked by :data:`~twin.grid.validate.rules_powerflow.POWERFLOW_RULES`; a model with errors is
    not solved (a ``powerflow-skipped`` warning says so)."""
    ctx = Context(net)
    findings: list[Finding] = []
    for rule in rules:
        findings += _run(rule, net, ctx)
    if power_flow:
        if any(f.severity == Severity.error for f in findings):
            findings.append(Finding(Severity.warning, "powerflow-skipped", "",
                                    message="the power flow was not run: the model has errors",
                                    fix="correct the errors, then validate again to see voltages and loading"))
        else:
            for rule in POWERFLOW_RULES + PROTECTION_RULES:
                findings += _run(rule, net, ctx)
    try:
        summary = net.summary()
    except Exception as err:  # the summary reads enums a broken model may not hold
        findings.append(_internal("the model summary", err))
        summary = {}
    return Report(net.name, tuple(findings), summary, source=str(source_path or net.origin or ""))


def validate_path(path: str | Path) -> Report:
    """Load an OpenDSS master file (``.dss``) or a native folder (with ``network.yaml``) and validate
    it; a model that does not load gives a report with one error finding saying where and why."""
    from twin.grid.io import load_model

    name = Path(path).stem or str(path)
    try:
        net = load_model(path)
    except ParseError as err:
        finding = Finding(Severity.error, "parse-error", err.component, (err.element,) if err.element else (),
                          field=err.field, message=err.message, fix=err.fix or "correct the file at this line",
                          file=err.file, line=err.line)
    except ModelError as err:
        # A ModelError's text names its element and fix already (it keeps no bare message).
        finding = Finding(Severity.error, "load-error", err.component, (err.element,) if err.element else (),
                          field=err.field, message=str(err), file=str(path))
    except OSError as err:
        finding = Finding(Severity.error, "load-error", "", message=f"cannot read: {err.strerror or err}",
                          fix="check that the file exists and can be read", file=str(err.filename or path))
    except Exception as err:  # an importer bug must not hide the rest of the report
        finding = _internal("loading the model", err, file=str(path))
    else:
        return validate(net, source_path=path)
    return Report(name, (finding,), {}, source=str(path))


def _run(rule: Rule, net: Network, ctx: Context) -> list[Finding]:
    try:
        return rule(net, ctx)
    except Exception as err:  # a validator that crashes on a broken model helps nobody
        return [_internal(f"rule {getattr(rule, '__name__', rule)}", err)]


def _internal(where: str, err: Exception, *, file: str = "") -> Finding:
    return Finding(Severity.error, "internal-error", "", message=f"internal error in {where}: "
                   f"{type(err).__name__}: {err}", fix="report this to the Twin developers with the model",
                   file=file)
