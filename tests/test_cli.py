"""The `twin` command line, end to end on a small generated territory."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.cli import main


@pytest.fixture(scope="module")
def territory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "territory"
    assert main(["generate", str(out), "--customers", "2500", "--seed", "3"]) == 0
    return out


def test_generate_then_validate(territory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (territory / "network.yaml").exists()
    assert main(["validate", str(territory)]) == 0
    assert "0 errors" in capsys.readouterr().out


def test_outage_names_customers_feeder_and_path(territory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["outage", str(territory), "switch.S01-F1-RCL"]) == 0
    out = capsys.readouterr().out
    assert "customers would lose supply" in out and "feeder S01-F1-BKR" in out
    assert out.rstrip().endswith("source.S01")


def test_bad_device_and_missing_model_are_clear_errors(territory: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outage", str(territory), "switch.NOPE"]) == 1
    assert "NOPE" in capsys.readouterr().err
    assert main(["outage", str(territory), "NOPE"]) == 1
    assert "table.id" in capsys.readouterr().err
    assert main(["validate", str(territory / "missing")]) == 1


def test_powerflow_writes_opendss_style_csv_and_totals(territory: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import pandas as pd

    capsys.readouterr()
    out = tmp_path / "v.csv"
    assert main(["powerflow", str(territory), "--csv", str(out), "--json"]) == 0
    totals = json.loads(capsys.readouterr().out)
    assert totals["source_kw"] == pytest.approx(totals["load_kw"] + totals["losses_kw"], rel=1e-6)
    table = pd.read_csv(out)
    assert list(table.columns) == ["bus", "phase", "v_pu", "angle_deg", "v_volts"]
    assert set(table["phase"]) <= {1, 2, 3} and table["v_pu"].between(0.85, 1.1).all()


def test_powerflow_loss_report(territory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["powerflow", str(territory), "--losses"]) == 0
    out = capsys.readouterr().out
    assert "by voltage level:" in out and "12.47 kV lines" in out and "S01-F1-BKR" in out


def test_powerflow_json_with_losses_at_an_hour(territory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["powerflow", str(territory), "--json", "--losses", "--hour", "14"]) == 0
    out = capsys.readouterr().out
    assert '"capacitors_closed"' in out and "by voltage level:" in out


def test_shortcircuit_study_csv_and_one_fault_with_its_sequence(territory: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    capsys.readouterr()
    out = tmp_path / "faults.csv"
    assert main(["shortcircuit", str(territory), "--csv", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["bus", "i3ph_a", "islg_a", "ill_a"]
    assert (table["i3ph_a"] > 0).all() and "protective zones" in capsys.readouterr().out
    from twin.grid.native import load_native
    from twin.grid.shortcircuit import fault_study

    zones = fault_study(load_native(territory)).zones
    lateral = zones[zones["kind"] == "fuse"]["weakest_bus"].iloc[0]  # the end of a fused lateral
    assert main(["shortcircuit", str(territory), "--bus", lateral, "--type", "slg"]) == 0
    text = capsys.readouterr().out
    assert "slg fault at" in text and "phase" in text and "sequence of operations" in text
    assert main(["shortcircuit", str(territory), "--bus", "nope"]) == 1
    assert "no bus 'nope'" in capsys.readouterr().err


def test_run_over_dnp3_and_the_points_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`twin run --devices dnp3`: the world in its own process, its RTUs DNP3 outstations; the same
    summary as on the virtual link. `twin dnp3-points` writes the map a master reads."""
    args = ["run", "territory:2000", "--storm", "thunderstorm", "--hours", "3", "--seed", "2"]
    assert main(args) == 0
    virtual = capsys.readouterr().out
    assert main(args + ["--devices", "dnp3", "--report", str(tmp_path / "report")]) == 0
    over = capsys.readouterr().out
    assert over.startswith("DNP3: ") and "outstations on loopback" in over and "0 frames dropped" in over
    idms = lambda text: next(line for line in text.splitlines() if line.startswith("IDMS:"))  # noqa: E731
    assert idms(over) == idms(virtual)
    assert (tmp_path / "report" / "reliability.html").exists()
    assert main(args + ["--devices", "dnp3", "--record", str(tmp_path / "r.twinrec")]) == 1
    assert "--devices virtual" in capsys.readouterr().err
    assert main(["dnp3-points", "territory:2000", str(tmp_path / "points.yaml"), "--base-port", "30000"]) == 0
    assert "outstations (127.0.0.1:30000-" in capsys.readouterr().out
    from twin.idms.interfaces.dnp3.points import load_points_map

    assert load_points_map(tmp_path / "points.yaml").rtus[0].port == 30000
