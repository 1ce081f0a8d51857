"""Benchmark: build the asymmetry report of a long session (target: a 2 h session's report in
<= 5 s and <= 10 MB).

The input is the FABRICATED AnalysisResult of tests/test_report_fixture.py (strides + a
200 Hz obliquity signal), so this measures the report alone, not the analysis.

    .venv/bin/python benchmarks/bench_report.py [--hours 2] [--activity run] [--browser]

``--browser`` also loads the report in headless Chromium (tests/browser.py) and times until
every figure is drawn.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gaitimu.report import build_report  # noqa: E402
from test_report_fixture import fabricate_result  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=2.0)
    p.add_argument("--activity", choices=("walk", "run"), default="run")
    p.add_argument("--rate", type=float, default=200.0, help="signal rate, Hz")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--browser", action="store_true")
    a = p.parse_args(argv)

    t0 = time.perf_counter()
    session, result = fabricate_result(activity=a.activity, duration_s=a.hours * 3600,
                                       cpd_left_deg=5, cpd_right_deg=8, seed=0,
                                       sample_rate_hz=a.rate, fatigue_deg={"R": 2.0})
    t_fab = time.perf_counter() - t0
    print(f"input: {a.hours:g} h {a.activity}, {len(result.strides)} stances, "
          f"{len(result.signals)} signal samples at {a.rate:g} Hz (fabricated in {t_fab:.1f} s)")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "report.html"
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            build_report([(session, result)], out, Path(d) / "summary.json")
            times.append(time.perf_counter() - t0)
        size_mb = out.stat().st_size / 1e6
        csv_mb = (Path(d) / "report_strides.csv").stat().st_size / 1e6
        print(f"build_report: best {min(times):.2f} s, worst {max(times):.2f} s "
              f"(target <= 5 s); HTML {size_mb:.2f} MB (target <= 10 MB); "
              f"strides CSV {csv_mb:.2f} MB")
        if a.browser:
            from browser import Browser

            with Browser() as b:
                t0 = time.perf_counter()
                page = b.open(out)
                page.wait_for("Array.from(document.querySelectorAll('[data-figure]')).filter("
                              "d => d.querySelectorAll('.main-svg').length).length >= 4", 60)
                print(f"chromium: loaded and drawn in {time.perf_counter() - t0:.2f} s, "
                      f"errors: {page.errors or 'none'}")
        ok = min(times) <= 5.0 and size_mb <= 10.0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
