"""The CLI contract (docs/contracts.md#command-line): every verb exists, has --help, and usage
errors are one line with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gaitimu.cli import build_parser, main

VERBS = ("scan", "record", "simulate", "import", "analyze", "report", "replay", "info", "export")


def test_every_verb_is_listed_in_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert verb in out


@pytest.mark.parametrize("verb", VERBS)
def test_verb_help(verb, capsys):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    assert f"gaitimu {verb}" in capsys.readouterr().out


def test_design_flags_exist():
    p = build_parser()
    sub = next(a for a in p._actions if a.dest == "verb").choices
    flags = {v: {s for a in sp._actions for s in a.option_strings} for v, sp in sub.items()}
    assert {"--device", "--duration", "--out", "--subject", "--activity"} <= flags["record"]
    assert {"--activity", "--duration", "--cpd-left", "--cpd-right", "--cadence", "--seed",
            "--out"} <= flags["simulate"]
    assert {"--rate", "--axes", "--acc-unit", "--gyr-unit", "--out"} <= flags["import"]
    assert {"--strides", "--signals"} <= flags["analyze"]
    assert {"--out", "--json"} <= flags["report"]
    assert {"--speed", "--max", "--strides", "--live"} <= flags["replay"]
    assert {"--json"} <= flags["info"]
    assert {"--format", "--out"} <= flags["export"]


@pytest.mark.parametrize(
    "argv",
    [["frobnicate"], ["info"], ["info", "x", "--bogus"], ["simulate", "--activity", "swim"],
     ["simulate", "--activity", "walk", "--duration", "abc", "--out", "x"]],
)
def test_usage_errors_are_one_line_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err and err.startswith("gaitimu")


def test_no_verb_prints_help_exit_2(capsys):
    assert main([]) == 2


def test_python_dash_m_and_version():
    r = subprocess.run([sys.executable, "-m", "gaitimu", "--version"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("gaitimu ")
