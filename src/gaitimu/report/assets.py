"""What the report page carries besides its text: the stylesheet (screen, phone, print), the
plotly.js bundle and the figures, packed small, and the script that unpacks and draws them.

Size. plotly.js is ~4.8 MB minified; the report embeds it once, gzip-compressed and written
in base85 (~1.8 MB), and the figures' JSON the same way. The page unpacks both with the
browser's own ``DecompressionStream('gzip')`` (Chrome/Edge 80, Firefox 113, Safari 16.4 and
newer), so it stays a single file that makes no network request at all. Base85 rather than
base64: 1.25 instead of 1.33 characters per byte, which is what keeps a one-hour report under
2 MB. The packed text sits in ``<script type="text/plain">`` elements; Python's base85
alphabet has no ``/`` and ``<`` is swapped for ``.`` (not in the alphabet), so the text can
never close or escape its element.

Print. Plots are drawn to the screen width; before printing (``beforeprint``, or print media
emulated) they are redrawn `PRINT_WIDTH_PX` wide, which fits an A4 and a Letter page with
the `PAGE_MARGIN_MM` margins, and `PRINT_HEIGHT_SCALE` of their height; afterwards back to
the screen size. Chromium redraws them inside ``beforeprint``, before the page is laid out
for paper (tests/test_report_layout.py prints to PDF).
"""

from __future__ import annotations

import base64
import functools
import gzip
import json

from gaitimu.consts import FLAG_COLOR, SIDE_COLORS

#: Width plots are redrawn to for printing: an A4 page (210 mm) less two 12 mm margins is
#: 703 CSS px, a Letter page 725 px.
PRINT_WIDTH_PX = 680
#: Plots print at this share of their screen height: still legible, and two or three fit a
#: page beside their captions (a 1-minute report: 7 -> 6 A4 pages).
PRINT_HEIGHT_SCALE = 0.75
PAGE_MARGIN_MM = 12
#: plotly config: no mode bar (it covered panel titles and legends on a phone; zoom by
#: dragging and double-click to reset still work), plots follow their container's width.
PLOTLY_CONFIG = {"responsive": True, "displaylogo": False, "displayModeBar": False}
B85_ALPHABET = ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "!#$%&()*+-;<=>?@^_`{|}~")
_SAFE = str.maketrans("<", ".")  # '.' is not a base85 digit; '<' could open a tag


def pack(data: bytes) -> str:
    """``data`` gzip-compressed (level 9, no timestamp: the same input gives the same page)
    and written in HTML-safe base85 (the page's ``unpack`` reverses it)."""
    return base64.b85encode(gzip.compress(data, 9, mtime=0)).decode("ascii").translate(_SAFE)


def unpack(text: str) -> bytes:
    """Inverse of `pack` (what the page's script does; tests use it)."""
    return gzip.decompress(base64.b85decode(text.replace(".", "<")))


@functools.lru_cache(maxsize=1)
def packed_plotly() -> str:
    """The installed plotly.js bundle, packed once per process (compressing 4.8 MB takes
    ~0.3 s; a progress report or a benchmark builds several pages)."""
    import plotly.offline

    return pack(plotly.offline.get_plotlyjs().encode("utf-8"))


_STYLE = """
:root { --fg:#1b1f24; --muted:#57606a; --ok:#1a7f37; --warn:#9a4f00;
        --bg:#ffffff; --card:#f6f8fa; --line:#d0d7de; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:var(--fg); background:var(--bg); line-height:1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1rem; margin: 0; color: var(--muted); font-weight: 600; }
h2 { font-size: 1.25rem; margin: 1.6rem 0 .5rem; border-bottom: 1px solid var(--line);
     padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: .9rem 0 .3rem; }
.meta { color: var(--muted); font-size: .95rem; }
.small { font-size: .85rem; color: var(--muted); }
.disclaimer { background:#fff8e1; border:1px solid #f0c36d; border-radius:6px;
              padding:.5rem .8rem; margin:.8rem 0; font-size:.92rem; }
/* the summary card: first on the page, one printed page */
.summary-card { border:1px solid var(--line); border-radius:10px; padding:14px 16px;
                margin: 4px 0 12px; }
.summary-card .context { margin:.15rem 0 .5rem; }
.summary-card .context b { font-weight:600; }
.headline { font-size:1.4rem; line-height:1.3; margin:.3rem 0 .7rem; border:0; padding:0; }
.verdicts { display:grid; grid-template-columns: 1fr 1fr; gap:12px; }
.verdict { background:var(--card); border:1px solid var(--line); border-top:6px solid;
           border-radius:8px; padding:.55rem .8rem; }
.verdict[data-side="L"] { border-top-color: var(--left); }
.verdict[data-side="R"] { border-top-color: var(--right); }
.verdict h3 { margin:0 0 .3rem; font-size:1.05rem; display:flex; flex-wrap:wrap;
              align-items:center; gap:.2rem .5rem; }
.verdict p { margin:.3rem 0; }
.verdict .confidence { color: var(--muted); font-size:.92rem; }
.dot { display:inline-block; width:.75em; height:.75em; border-radius:50%; }
.dot.L { background: var(--left); } .dot.R { background: var(--right); }
.status { display:inline-block; border-radius:4px; padding:0 .45rem; font-weight:700;
          font-size:.78rem; letter-spacing:.03em; text-transform:uppercase;
          border:1px solid; }
.status.flagged { background:var(--flag); border-color:var(--flag); color:#fff; }
.status.not_flagged { color:var(--ok); border-color:var(--ok); }
.status.inconclusive { color:var(--warn); border-color:var(--warn); background:#fff4e5; }
.banner { background:#fff4e5; border:1px solid #f0b46d; border-left:5px solid var(--warn);
          border-radius:6px; padding:.45rem .7rem; margin:.6rem 0 0; }
.banner .fix { display:block; margin-top:.15rem; }
.explain { display:grid; grid-template-columns: 1fr 1fr; gap:4px 20px; margin-top:.4rem; }
.explain h3 { margin:.6rem 0 .15rem; }
.explain p, .explain ul { margin:.15rem 0; }
.explain ul { padding-left: 1.2rem; }
.summary-card .disclaimer { margin:.7rem 0 0; }
/* details */
.figure { width:100%; margin:.4rem 0 1rem; break-inside:avoid; page-break-inside:avoid; }
.plot { width:100%; }
.plot-note { color: var(--muted); font-size:.9rem; padding: 1rem 0; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; margin: .4rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .4rem; text-align: left;
         vertical-align: top; }
th { background: var(--card); }
.scroll { overflow-x: auto; }
ul.flags li { margin: .25rem 0; }
.guide { border-left:4px solid var(--line); padding:.1rem 0 .1rem .8rem; margin:.6rem 0; }
.guide h3 { margin:.2rem 0; }
.guide p, .guide ul { margin:.25rem 0; }
@media (max-width: 640px) {
  main { padding: 8px; } table { font-size: .82rem; }
  .summary-card { padding: 10px 10px; } .headline { font-size: 1.2rem; }
  .verdicts, .explain { grid-template-columns: 1fr; }
}
@media print {
  body { font-size: 10pt; line-height: 1.35; }
  main { max-width: none; padding: 0; }
  /* the card alone on page 1: compact enough for two banners and long notes on Letter */
  .summary-card { border: 0; padding: 0; margin: 0; break-after: page;
                  page-break-after: always; font-size: 9.5pt; }
  .headline { font-size: 14pt; margin: .2rem 0 .45rem; }
  .verdicts { grid-template-columns: 1fr 1fr; gap: 8px; }
  .verdict h3 { font-size: 11pt; }
  .banner { margin-top: .4rem; padding: .3rem .6rem; }
  .explain { grid-template-columns: 1fr 1fr; font-size: 9pt; }
  .explain h3 { font-size: 10pt; margin: .45rem 0 .1rem; }
  .summary-card .meta, .verdict .confidence, .summary-card .disclaimer { font-size: .92em; }
  .verdict, .banner, .disclaimer, .status, .dot { -webkit-print-color-adjust: exact;
                                                    print-color-adjust: exact; }
  h2 { margin-top: 1rem; break-after: avoid; page-break-after: avoid; }
  h3 { break-after: avoid; page-break-after: avoid; }
  .verdict, .banner, .figure, .guide, tr { break-inside: avoid; page-break-inside: avoid; }
  .scroll { overflow: visible; }
  .plot { min-height: 0 !important; }
  a { color: inherit; text-decoration: none; }
}
"""
#: The stylesheet; the side and flag colours come from `gaitimu.consts`, as in the plots.
CSS = (f":root {{ --flag:{FLAG_COLOR}; --left:{SIDE_COLORS['L']}; --right:{SIDE_COLORS['R']}; }}"
       f"@page {{ margin: {PAGE_MARGIN_MM}mm; }}" + _STYLE)

#: Unpacks plotly.js and the figures, runs plotly, draws every figure into its ``div``, and
#: redraws the plots at print width while printing. The ``__NAME__`` fields are filled in
#: by `boot_script`.
_BOOT_JS = """
(function () {
  "use strict";
  var ALPHABET = __ALPHABET__, CONFIG = __CONFIG__, PRINT_W = __PRINT_W__,
      PRINT_H = __PRINT_H__;
  function base85(text) {
    var digit = new Uint8Array(128), i, j, v;
    for (i = 0; i < 85; i++) digit[ALPHABET.charCodeAt(i)] = i;
    var full = Math.floor(text.length / 5), rest = text.length % 5;
    var out = new Uint8Array(full * 4 + (rest ? rest - 1 : 0)), o = 0;
    function group(at, k) {  /* a short last group is padded with the top digit */
      for (v = 0, j = 0; j < 5; j++) v = v * 85 + (j < k ? digit[text.charCodeAt(at + j)] : 84);
      return v;
    }
    for (i = 0; i < full; i++) {
      v = group(5 * i, 5);
      out[o++] = v >>> 24; out[o++] = (v >>> 16) & 255; out[o++] = (v >>> 8) & 255;
      out[o++] = v & 255;
    }
    if (rest) {
      v = group(5 * full, rest);
      for (j = 0; j < rest - 1; j++) out[o++] = (v >>> (24 - 8 * j)) & 255;
    }
    return out;
  }
  function unpack(id) {
    var text = document.getElementById(id).textContent;
    var stream = new Blob([base85(text)]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }
  function note(text) {
    document.querySelectorAll(".plot").forEach(function (d) { d.textContent = text; });
  }
  function plots() { return Array.from(document.querySelectorAll(".plot.js-plotly-plot")); }
  var printing = false;
  function toPrint() {
    if (printing) return;
    printing = true;
    plots().forEach(function (gd) {
      gd.dataset.screenHeight = gd.layout.height;
      Plotly.relayout(gd, {width: PRINT_W, height: Math.round(gd.layout.height * PRINT_H)});
    });
  }
  function toScreen() {
    if (!printing) return;
    printing = false;
    plots().forEach(function (gd) {
      Plotly.relayout(gd, {width: null, autosize: true, height: +gd.dataset.screenHeight});
    });
  }
  async function draw() {
    if (typeof DecompressionStream === "undefined") {
      note("This browser cannot unpack the plots (it needs Chrome or Edge 80, Firefox 113, " +
           "Safari 16.4 or newer). Every number is also in the text and tables.");
      return;
    }
    var parts = await Promise.all([unpack("gaitimu-plotly"), unpack("gaitimu-figures")]);
    window.PlotlyConfig = {MathJaxConfig: "local"};
    var script = document.createElement("script");
    script.text = parts[0];
    document.head.appendChild(script);
    var figures = JSON.parse(parts[1]);
    for (var k = 0; k < figures.length; k++) {
      var gd = document.getElementById(figures[k].id);
      gd.textContent = "";
      await Plotly.newPlot(gd, figures[k].figure.data, figures[k].figure.layout, CONFIG);
    }
    var media = window.matchMedia("print");
    media.addEventListener("change", function (e) { (e.matches ? toPrint : toScreen)(); });
    window.addEventListener("beforeprint", toPrint);
    window.addEventListener("afterprint", toScreen);
    if (media.matches) toPrint();
    document.documentElement.dataset.plots = "drawn";
  }
  draw().catch(function (e) { note("The plots could not be drawn: " + e); console.error(e); });
})();
"""


def boot_script() -> str:
    """The page's script (see `_BOOT_JS`), with the alphabet, plotly config and print width."""
    fields = {"__ALPHABET__": json.dumps(B85_ALPHABET.translate(_SAFE)),
              "__CONFIG__": json.dumps(PLOTLY_CONFIG), "__PRINT_W__": str(PRINT_WIDTH_PX),
              "__PRINT_H__": str(PRINT_HEIGHT_SCALE)}
    js = _BOOT_JS
    for name, value in fields.items():
        js = js.replace(name, value)
    return js
