"""Benchmark: build the asymmetry report of a long session (targets: a 2 h session's report in
<= 5 s; the HTML <= 2 MB for sessions up to 1 h and beyond).

Two inputs:

- default: the FABRICATED AnalysisResult of tests/test_report_fixture.py (strides + a 200 Hz
  obliquity signal), so this measures the report alone, not the analysis;
- ``--simulated S [S ...]``: sessions of S seconds from the simulator (``gaitimu simulate``
  -> ``gaitimu report``, analysis included), for the size of real pages.

    .venv/bin/python benchmarks/bench_report.py [--hours 2] [--activity run] [--browser]
    .venv/bin/python benchmarks/bench_report.py --simulated 60 3600 [--browser]

The size is split into its parts: the packed plotly.js, the packed figures and the rest
(text, stylesheet, script). ``--browser`` also loads each report in headless Chromium
(tests/browser.py) and times until every figure is drawn.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gaitimu.report import build_report  # noqa: E402
from gaitimu.workflows import report_sessions  # noqa: E402
from test_report_fixture import fabricate_result  # noqa: E402

MAX_HTML_MB = 2.0
MAX_BUILD_S = 5.0


def html_parts_mb(path: Path) -> dict[str, float]:
    """Size of the report and of its packed parts (``gaitimu-plotly``, ``gaitimu-figures``),
    in MB (10^6 bytes)."""
    text = path.read_text(encoding="utf-8")
    parts = dict(re.findall(r"<script type='text/plain' id='gaitimu-([a-z]+)'>([^<]*)</script>",
                            text))
    total = path.stat().st_size
    out = {k: len(v) / 1e6 for k, v in parts.items()}
    out["rest"] = total / 1e6 - sum(out.values())
    out["total"] = total / 1e6
    return out


def _size_text(mb: dict[str, float]) -> str:
    return (f"HTML {mb['total']:.2f} MB (plotly.js {mb.get('plotly', 0):.2f}, figures "
            f"{mb.get('figures', 0):.3f}, text/style/script {mb['rest']:.3f})")


def _browser_time(html: Path) -> str:
    from browser import Browser

    with Browser() as b:
        t0 = time.perf_counter()
        page = b.open(html)
        page.wait_for("document.documentElement.dataset.plots === 'drawn'", 60)
        return (f"chromium: loaded and drawn in {time.perf_counter() - t0:.2f} s, errors: "
                f"{page.errors or 'none'}")


def fabricated(a: argparse.Namespace, d: Path) -> bool:
    """Time and size of the report of a fabricated long session."""
    t0 = time.perf_counter()
    session, result = fabricate_result(activity=a.activity, duration_s=a.hours * 3600,
                                       cpd_left_deg=5, cpd_right_deg=8, seed=0,
                                       sample_rate_hz=a.rate, fatigue_deg={"R": 2.0})
    print(f"input: {a.hours:g} h {a.activity}, {len(result.strides)} stances, "
          f"{len(result.signals)} signal samples at {a.rate:g} Hz (fabricated in "
          f"{time.perf_counter() - t0:.1f} s)")
    out = d / "report.html"
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        build_report([(session, result)], out, d / "summary.json")
        times.append(time.perf_counter() - t0)
    mb = html_parts_mb(out)
    csv_mb = (d / "report_strides.csv").stat().st_size / 1e6
    print(f"build_report: best {min(times):.2f} s, worst {max(times):.2f} s (target <= "
          f"{MAX_BUILD_S:g} s); {_size_text(mb)} (target <= {MAX_HTML_MB:g} MB); strides CSV "
          f"{csv_mb:.2f} MB")
    if a.browser:
        print(_browser_time(out))
    return min(times) <= MAX_BUILD_S and mb["total"] <= MAX_HTML_MB


def simulated(a: argparse.Namespace, d: Path) -> bool:
    """Size of the report of simulated sessions, through analysis and report."""
    from gaitimu.simulate import SimConfig, simulate, write_session

    ok = True
    for duration_s in a.simulated:
        path = d / f"sim{duration_s:g}"
        write_session(simulate(SimConfig(activity=a.activity, duration_s=duration_s,
                                         cpd_left_deg=4, cpd_right_deg=7, seed=5)), path)
        out = d / f"sim{duration_s:g}.html"
        t0 = time.perf_counter()
        summary = report_sessions([path], out, d / f"sim{duration_s:g}.json")
        mb = html_parts_mb(out)
        print(f"{duration_s:g} s {a.activity} ({summary['strides']['L']} + "
              f"{summary['strides']['R']} strides): analysis + report "
              f"{time.perf_counter() - t0:.2f} s; {_size_text(mb)}")
        if a.browser:
            print("  " + _browser_time(out))
        ok &= mb["total"] <= MAX_HTML_MB
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=2.0)
    p.add_argument("--activity", choices=("walk", "run"), default="run")
    p.add_argument("--rate", type=float, default=200.0, help="signal rate, Hz")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--simulated", type=float, nargs="+", metavar="S",
                   help="simulate sessions of these durations (s) instead")
    p.add_argument("--browser", action="store_true")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        ok = simulated(a, Path(d)) if a.simulated else fabricated(a, Path(d))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
