"""The report's layout in a REAL headless Chromium (tests/browser.py): what a runner sees
first, on a phone and on paper.

- No quiet standing: the summary card says "inconclusive" for both legs and shows the banner
  that says how to fix it, where it can be seen (inside the card, on the first screen).
- Phone (390 px): no two pieces of text overlap, neither in the card nor in any plot (plot
  titles, axis titles, tick labels, legend items, annotations: plotly's SVG text).
- Print (A4): the summary card fits on page 1, plots are redrawn to the page width, and the
  PDF has no more pages than the content needs (no empty pages); a full card (two banners,
  long notes) still fits a Letter page, the shorter one.

One browser for the module; each case opens one tab.
"""

from __future__ import annotations

import base64
import math
import re

import pytest

from browser import ARTIFACTS, Browser, require_browser
from gaitimu.report import build_report
from gaitimu.report.assets import PAGE_MARGIN_MM, PRINT_WIDTH_PX
from test_report_fixture import fabricate_result

pytestmark = pytest.mark.browser

PX_PER_MM = 96 / 25.4
A4_MM = (210.0, 297.0)
LETTER_MM = (215.9, 279.4)
#: A4 and Letter less the page margins, in CSS px: the area print lays a page out in.
A4_CONTENT_PX = tuple((d - 2 * PAGE_MARGIN_MM) * PX_PER_MM for d in A4_MM)
LETTER_CONTENT_PX = tuple((d - 2 * PAGE_MARGIN_MM) * PX_PER_MM for d in LETTER_MM)
DRAWN = "document.documentElement.dataset.plots === 'drawn'"

#: Boxes of the text that must not overlap, as [[label, left, top, right, bottom], ...] per
#: group: the card's text blocks, and for each plot its SVG text (titles, axis titles, tick
#: labels, legend items, annotations). Hidden and empty elements are left out.
BOXES_JS = r"""
(() => {
  const shown = e => {
    const s = getComputedStyle(e), r = e.getBoundingClientRect();
    return s.display !== 'none' && s.visibility !== 'hidden' && +s.opacity > 0 &&
           r.width > 0 && r.height > 0 && e.textContent.trim() !== '';
  };
  const box = e => {
    const r = e.getBoundingClientRect();
    return [e.textContent.trim().slice(0, 40), r.left, r.top, r.right, r.bottom];
  };
  const groups = {};
  const card = document.getElementById('summary-card');
  groups.card = Array.from(card.querySelectorAll(
      'h1, .context, .headline, .side-name, .status, .verdict p, .banner b, .banner .fix, ' +
      '.explain h3, .explain p, .explain li, .disclaimer')).filter(shown).map(box);
  const plotText = '.gtitle, [class^="g-"][class$="title"] text, [class$="tick"] > text, ' +
                   '.legendtext, .annotation-text';
  document.querySelectorAll('.js-plotly-plot').forEach(gd => {
    groups[gd.id] = Array.from(gd.querySelectorAll(plotText)).filter(shown).map(box);
  });
  return groups;
})()
"""


def _overlaps(boxes: list, tol_px: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of boxes that intersect by more than ``tol_px`` in both directions (one box
    inside another counts: e.g. the card's status badge inside its heading is excluded by
    listing only leaf text)."""
    out = []
    for i, (a, ax0, ay0, ax1, ay1) in enumerate(boxes):
        for b, bx0, by0, bx1, by1 in boxes[i + 1:]:
            if min(ax1, bx1) - max(ax0, bx0) > tol_px and min(ay1, by1) - max(ay0, by0) > tol_px:
                out.append((a, b))
    return out


def _report(d, name: str, n_sessions: int = 1, notes: str | None = None, seed: int = 0,
            **kw) -> str:
    items = []
    for i in range(n_sessions):
        s, r = fabricate_result(seed=seed + i, **kw)
        s.meta["created_utc"] = f"2026-0{i + 1}-01T10:00:00Z"
        s.meta["notes"] = notes
        items.append((s, r))
    build_report(items, d / f"{name}.html", d / f"{name}.json")
    return d / f"{name}.html"


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A 1-minute run (right side weaker), the same without quiet standing, and a progress
    report over three walks."""
    d = tmp_path_factory.mktemp("layout")
    return {
        "run": _report(d, "run", activity="run", duration_s=60, cpd_left_deg=4,
                       cpd_right_deg=8),
        "no_standing": _report(d, "no_standing", activity="walk", duration_s=60,
                               cpd_left_deg=4, cpd_right_deg=8, standing=False),
        "progress": _report(d, "progress", 3, activity="walk", duration_s=90,
                            cpd_left_deg=4, cpd_right_deg=7),
        # a full card: a borderline side and a drop that grew (two banners), long notes
        "full_card": _report(d, "full_card", activity="run", duration_s=240, cpd_left_deg=4,
                             cpd_right_deg=6.2, fatigue_deg={"R": 4.0, "L": 3.0}, sd_deg=2.5,
                             seed=4, notes="treadmill 10 km/h, new shoes, left knee sore "
                             "after 20 minutes; " * 3),
    }


@pytest.fixture(scope="module")
def browser():
    exe = require_browser()
    with Browser(exe) as b:
        yield b


def test_no_standing_card_is_inconclusive_with_banner(browser, pages):
    page = browser.open(pages["no_standing"], width=390, height=844, mobile=True)
    page.wait_for(DRAWN)
    card = page.evaluate("""(() => {
        const c = document.getElementById('summary-card');
        const b = c.querySelector('.banner');
        const r = b && b.getBoundingClientRect();
        return {status: Array.from(c.querySelectorAll('.verdict')).map(v => [v.dataset.side,
                          v.dataset.status, v.querySelector('.status').textContent]),
                banner: b && [b.dataset.kind, b.innerText, r.top, r.bottom, r.width],
                first: document.querySelector('main').firstElementChild.id};
    })()""")
    assert card["first"] == "summary-card"  # the card is the top of the page
    assert card["status"] == [["L", "inconclusive", "inconclusive"],
                              ["R", "inconclusive", "inconclusive"]]
    kind, text, top, bottom, width = card["banner"]
    assert kind == "no_standing"
    assert "stand still" in text.lower() and "5 s" in text.replace("seconds", "s")
    # visible on the first screens of a phone, not at the bottom of the page
    assert width > 300 and bottom < 3 * 844, (top, bottom)
    assert page.errors == []
    page.screenshot(ARTIFACTS / "report_no_standing_phone.png")


@pytest.mark.parametrize("name", ["run", "progress"])
def test_phone_width_no_overlapping_text(browser, pages, name):
    page = browser.open(pages[name], width=390, height=844, mobile=True)
    page.wait_for(DRAWN)
    assert page.errors == []
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    groups = page.evaluate(BOXES_JS)
    expected = {"card", "fig-cpd", "fig-cycle", "fig-trend", "fig-temporal"}
    assert expected | ({"fig-progress"} if name == "progress" else set()) == set(groups)
    assert all(len(boxes) >= 3 for boxes in groups.values()), {k: len(v) for k, v in
                                                              groups.items()}
    bad = {g: _overlaps(boxes) for g, boxes in groups.items()}
    assert not any(bad.values()), {g: v for g, v in bad.items() if v}
    # nothing sticks out of its plot either (a title cut off at the edge is unreadable)
    edges = page.evaluate("Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => "
                          "[d.id, d.getBoundingClientRect().left, "
                          "d.getBoundingClientRect().right])")
    for fig_id, left, right in edges:
        out = [b[0] for b in groups[fig_id] if b[1] < left - 1 or b[3] > right + 1]
        assert not out, (fig_id, out)
    page.screenshot(ARTIFACTS / f"report_{name}_phone.png")


def test_print_puts_the_card_on_page_one(browser, pages):
    page = browser.open(pages["run"], width=1280, height=900)
    page.wait_for(DRAWN)
    pdf = base64.b64decode(browser.call(
        "Page.printToPDF", {"paperWidth": A4_MM[0] / 25.4, "paperHeight": A4_MM[1] / 25.4,
                            "printBackground": True}, page.sid, timeout_s=60)["data"])
    assert pdf[:4] == b"%PDF"
    n_pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    (ARTIFACTS / "report_run_a4.pdf").write_bytes(pdf)
    # the same layout on screen: print media in a window as wide as the A4 content
    width, height = A4_CONTENT_PX
    page.set_viewport(round(width), round(height))
    browser.call("Emulation.setEmulatedMedia", {"media": "print"}, page.sid)
    page.wait_for("Array.from(document.querySelectorAll('.js-plotly-plot .main-svg'))"
                  f".every(s => s.getBoundingClientRect().width <= {PRINT_WIDTH_PX})")
    m = page.evaluate("""(() => {
        const c = document.getElementById('summary-card').getBoundingClientRect();
        return {card: [c.top, c.bottom], total: document.documentElement.scrollHeight,
                disclaimer: !!document.querySelector('#summary-card .disclaimer'),
                plots: Array.from(document.querySelectorAll('.js-plotly-plot .main-svg'))
                         .map(s => s.getBoundingClientRect().right)};
    })()""")
    assert m["card"][0] < 50 and m["card"][1] <= height, m["card"]  # all of it on page 1
    assert m["disclaimer"]
    assert max(m["plots"]) <= width
    # page 1 is the card; the rest fills pages, with slack for figures kept whole
    rest = math.ceil((m["total"] - m["card"][1]) / height)
    assert 2 <= n_pages <= 1 + rest + 1, (n_pages, m)
    assert page.errors == []


def test_full_card_fits_one_letter_page(browser, pages):
    page = browser.open(pages["full_card"], width=1280, height=900)
    page.wait_for(DRAWN)
    kinds = page.evaluate("Array.from(document.querySelectorAll('#summary-card .banner'))"
                          ".map(b => b.dataset.kind)")
    assert len(kinds) >= 2, kinds  # the case this test is for
    width, height = LETTER_CONTENT_PX
    page.set_viewport(round(width), round(height))
    browser.call("Emulation.setEmulatedMedia", {"media": "print"}, page.sid)
    bottom = page.wait_for("document.getElementById('summary-card').getBoundingClientRect()"
                           ".bottom")
    assert bottom <= height, (bottom, height)
