"""Screenshots of the committed example report for docs/report.md: the top of the page on a
desktop (1280 px) and on a phone (390 px), in headless Chromium (tests/browser.py).

    .venv/bin/python dashboards/make_report_screenshots.py [--report REPORT.html] [--out DIR]

Writes docs/img/report_desktop.png and docs/img/report_phone.png. Each shows the summary card
and what follows it, as tall as `SHOTS` says. PNGs of text are big; with Pillow installed
(it comes with matplotlib) they are reduced to a 128-colour palette, which keeps each under
`MAX_BYTES` without visible loss.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 150_000
SHOTS = {  # name: (width, height, mobile)
    "report_desktop": (1280, 1100, False),
    "report_phone": (390, 1500, True),
}


def palette(png: bytes, colours: int = 128) -> bytes:
    """``png`` with its colours reduced to a palette (Pillow), or unchanged without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        return png
    im = Image.open(io.BytesIO(png)).convert("RGB").quantize(colours, dither=Image.Dither.NONE)
    out = io.BytesIO()
    im.save(out, "PNG", optimize=True)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--report", default=str(ROOT / "dashboards" / "example_run_report.html"))
    p.add_argument("--out", default=str(ROOT / "docs" / "img"))
    a = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from browser import Browser

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    ok = True
    with Browser() as b:
        for name, (width, height, mobile) in SHOTS.items():
            page = b.open(a.report, width=width, height=height, mobile=mobile)
            page.wait_for("document.documentElement.dataset.plots === 'drawn'", 60)
            if page.errors:
                print(f"{name}: browser errors {page.errors}")
                ok = False
            path = page.screenshot(out / f"{name}.png", full_page=False)
            path.write_bytes(palette(path.read_bytes()))
            size = path.stat().st_size
            ok &= size <= MAX_BYTES
            print(f"{path}: {width}x{height}, {size / 1000:.0f} kB")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
