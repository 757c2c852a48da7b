"""cxsim-regress: a recorded baseline checks clean, any drift fails with a readable table and JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from sim.regress import main

SPEC = """\
cases:
  small:
    overrides: [population.n_customers=300, years=1, warmup_years=0]
    seeds: [0, 1]
tolerances:
  default: {rel: 0, abs: 0}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "regress.yaml"
    path.write_text(SPEC)
    assert main(["record", str(path)]) == 0
    return path


def test_a_recorded_baseline_checks_clean(spec, capsys):
    assert (spec.parent / "regress.baseline.parquet").is_file()
    assert main(["check", str(spec), "--junit", str(spec.parent / "junit.xml")]) == 0
    assert "match" in capsys.readouterr().out
    suite = ET.parse(spec.parent / "junit.xml").getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "0"


def test_a_changed_model_value_is_reported_as_drift(spec, capsys):
    spec.write_text(SPEC.replace("warmup_years=0]", "warmup_years=0, churn.rate_other=0.01]"))
    capsys.readouterr()
    assert main(["check", str(spec), "--junit", str(spec.parent / "junit.xml")]) == 1
    out = capsys.readouterr().out
    assert "drifted from" in out and "churn_by_reason.other" in out and "recorded" in out
    suite = ET.parse(spec.parent / "junit.xml").getroot()
    assert suite.get("failures") == "2"
    assert all(case.find("failure") is not None for case in suite.iter("testcase"))


def test_tolerances_absorb_what_they_allow_and_no_more(spec):
    spec.write_text(SPEC.replace("warmup_years=0]", "warmup_years=0, churn.rate_other=0.0021]"))
    assert main(["check", str(spec)]) == 1
    assert main(["check", str(spec), "--rtol", "1e6", "--atol", "1e12"]) == 0


def test_bad_specs_and_targets_exit_2_before_running(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cases:\n  x:\n    overrides: [churn.rate_other=-1]\n")
    assert main(["record", str(bad)]) == 2
    assert "churn.rate_other=-1" in capsys.readouterr().err
    bad.write_text("cases:\n  x:\n    seeds: [1.5]\n")
    assert main(["record", str(bad)]) == 2
    assert "cases.x.seeds" in capsys.readouterr().err
    ok = tmp_path / "ok.yaml"
    ok.write_text(SPEC)
    mine = tmp_path / "mine.parquet"
    mine.write_text("a user's file")
    assert main(["record", str(ok), "--baseline", str(mine)]) == 2
    assert mine.read_text() == "a user's file"
    assert main(["check", str(ok)]) == 2
    assert "record it first" in capsys.readouterr().err
