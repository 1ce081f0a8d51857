"""Build the example asymmetry report from simulated sessions: a runner whose right hip
abductors control the pelvis less well, over three sessions of a rehabilitation programme
(right CPD 8 -> 6.5 -> 5 deg, left 4.5 deg), each 3 min of running with quiet standing.

    .venv/bin/python dashboards/make_example_report.py [--out out/example]

Writes ``report.html`` (self-contained, ~1.9 MB, not committed), ``summary.json`` and
``report_strides.csv`` into --out, and with ``--screenshot`` a PNG of the top of the page (the
summary card and the progress section) via headless Chromium (tests/browser.py), reduced to a
palette (dashboards/make_report_screenshots.py). The committed dashboards/example/ holds the
summary and the screenshot of one run of this script.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Height of the screenshot: the summary card and the progress section.
SCREENSHOT_HEIGHT_PX = 2000
PROGRAMME = [  # (cpd_left_deg, cpd_right_deg, seed)
    (4.5, 8.0, 11),
    (4.5, 6.5, 12),
    (4.5, 5.0, 13),
]


def main(argv: list[str] | None = None) -> int:
    from gaitimu.simulate import SimConfig, simulate, write_session
    from gaitimu.workflows import report_sessions

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "out" / "example"))
    p.add_argument("--activity", choices=("walk", "run"), default="run")
    p.add_argument("--duration", type=float, default=180.0)
    p.add_argument("--screenshot", action="store_true")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gaitimu-example-"))
    try:
        paths = []
        for i, (left, right, seed) in enumerate(PROGRAMME):
            sim = simulate(SimConfig(activity=a.activity, duration_s=a.duration,
                                     cpd_left_deg=left, cpd_right_deg=right, seed=seed))
            path = work / f"session{i + 1}"
            write_session(sim, path, subject="example-runner",
                          notes=f"simulated: cpd left {left}, right {right} deg")
            paths.append(path)
            time.sleep(0.01)  # distinct created_utc, so the progress view keeps this order
        summary = report_sessions(paths, out / "report.html", out / "summary.json")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for s in ("L", "R"):
        print(f"{s}: {summary['verdict'][s]['text']}")
    if a.screenshot:
        sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "dashboards")]
        from make_report_screenshots import palette

        from browser import Browser

        with Browser() as b:
            page = b.open(out / "report.html", width=1280, height=SCREENSHOT_HEIGHT_PX)
            page.wait_for("document.documentElement.dataset.plots === 'drawn'", 60)
            if page.errors:
                print("browser errors:", page.errors)
            png = page.screenshot(out / "report.png", full_page=False)
            png.write_bytes(palette(png.read_bytes()))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
