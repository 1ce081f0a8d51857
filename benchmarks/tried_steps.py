"""Two step cues tried for the U-turn and the stop (issue 11) and dropped: reproduces the
numbers of docs/VALIDATION.md, "Where the steps are still missed" (4) and (5).

    .venv/bin/python benchmarks/tried_steps.py [--subjects odd] [--scale 0.2] [--gap 1.5]

(4) turn lobes: inside every detected turn, the negative lobes of the integrated,
    wavelet-smoothed vertical acceleration (Ionescu / McCamley, as mobgap) fill the gaps
    between detections longer than ``--gap`` step periods (the strongest
    round(gap / step) - 1 of them); ``--gap 0`` adds every lobe 0.3 s from a detection.
(5) closing steps from the yaw swing: for each bout that ends in rest, the yaw-rate extremum
    of the trailing leg's sign after the last step, shifted by the bout's own
    yaw-peak-to-IC offset.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from scipy.integrate import cumulative_trapezoid
from scipy.signal import find_peaks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_events import IPOL_AXES, IPOL_FS, ipol_names, ipol_reference, load_ipol, to_body
from validate_walks import _category, _hits


def lobes(acc_is: np.ndarray, fs: float, scale_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Minima (index, depth) of the negative lobes of the integrated, Mexican-hat-smoothed
    vertical acceleration."""
    from gaitimu.analysis.filters import bandpass

    x = bandpass(acc_is - np.mean(acc_is), 0.5, 8.0, sampling_rate_hz=fs)
    xi = cumulative_trapezoid(x, initial=0) / fs
    a = scale_s * fs
    k = np.arange(-int(5 * a), int(5 * a) + 1)
    y = np.convolve(xi, (1 - (k / a) ** 2) * np.exp(-0.5 * (k / a) ** 2), mode="same")
    y -= y.mean()
    mn, _ = find_peaks(-y)
    mn = mn[y[mn] < 0]
    return mn, -y[mn]


def turn_fill(det: np.ndarray, body, turns, scale_s: float, gap_f: float) -> np.ndarray:
    tb = body["t_s"].to_numpy()
    mn, depth = lobes(body["acc_is"].to_numpy(), IPOL_FS, scale_s)
    cand = tb[mn]
    d = np.diff(det)
    step = float(np.median(d[d < 1.2])) if det.size > 3 else 0.55
    add: list[float] = []
    for a, b in zip(turns["start_s"], turns["end_s"], strict=True):
        if gap_f <= 0:
            inside = cand[(cand >= a) & (cand <= b)]
            add += [c for c in inside if det.size == 0 or np.min(np.abs(det - c)) > 0.3]
            continue
        for d0, d1 in itertools.pairwise(det):
            if d1 < a or d0 > b or not gap_f * step <= d1 - d0 <= 4.0:
                continue
            m = max(round((d1 - d0) / step) - 1, 1)
            sel = (cand > d0 + 0.36 * step) & (cand < d1 - 0.36 * step)
            c, dp = cand[sel], depth[sel]
            chosen: list[float] = []
            for k in np.argsort(-dp):
                if len(chosen) < m and all(abs(c[k] - x) > 0.3 for x in chosen):
                    chosen.append(float(c[k]))
            add += chosen
    return np.asarray(add)


def closing_from_yaw(ev, body) -> np.ndarray:
    from gaitimu.analysis.filters import lowpass

    tb = body["t_s"].to_numpy()
    yaw = lowpass(body["gyr_is"].to_numpy(), 3.0, sampling_rate_hz=IPOL_FS, order=2)
    out = []
    for _, g in ev.groupby("bout_id"):
        if g["gait_phase"].iloc[-1] != "termination" or len(g) < 4:
            continue
        ics = g["ic_s"].to_numpy()
        step = float(np.median(np.diff(ics)))
        ext_t, ext_v = [], []
        for x in ics:
            w = (tb >= x - 0.6 * step) & (tb <= x + 0.1 * step)
            k = int(np.argmax(np.abs(yaw[w])))
            ext_t.append(tb[w][k])
            ext_v.append(yaw[w][k])
        ext_t, ext_v = np.asarray(ext_t), np.asarray(ext_v)
        want = -np.sign(ext_v[-1])
        same = np.sign(ext_v) == want
        if not same.any():
            continue
        off = float(np.median(ics[same] - ext_t[same]))
        w = (tb >= ics[-1] - 0.1 * step) & (tb <= ics[-1] + 1.3 * step) & (tb > ext_t[-1] + 0.2 * step)
        if not w.any():
            continue
        yv = yaw[w] * want
        k = int(np.argmax(yv))
        if 0 < k < yv.size - 1 and yv[k] >= 0.45 * np.median(np.abs(ext_v)):
            out.append(tb[w][k] + off)
    return np.asarray(out)


def run(name: str, scale_s: float, gap_f: float) -> dict:
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from gaitimu.analysis.events import detect_events
    from gaitimu.analysis.turns import detect_turns

    t, acc, gyr, meta = load_ipol(name)
    ic, _, _ = ipol_reference(meta)
    lo, hi = (b / IPOL_FS for b in meta["TrialBoundaries"])
    u0, u1 = (b / IPOL_FS for b in meta["UTurnBoundaries"])
    ic = ic[(ic >= lo) & (ic <= hi)]
    body = to_body(t, acc, gyr, IPOL_FS, IPOL_AXES)
    ev = detect_events(body, sampling_rate_hz=IPOL_FS).events
    det = np.sort(ev["ic_s"].to_numpy())
    turns = detect_turns(body, sampling_rate_hz=IPOL_FS)
    out = {}
    for label, extra in (("current", np.zeros(0)),
                         ("(4) turn lobes", turn_fill(det, body, turns, scale_s, gap_f)),
                         ("(5) closing from yaw", closing_from_yaw(ev, body))):
        d = np.sort(np.concatenate([det, extra]))
        hit, fp = _hits(ic, d[(d >= lo - 0.1) & (d <= hi + 0.1)])
        u = np.array([_category(k, x, ic, u0, u1) == "U-turn" for k, x in enumerate(ic)])
        out[label] = np.array([hit.sum(), (~hit).sum(), fp, hit[u].sum(), u.sum(),
                               hit[-3:].sum(), 3])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", default="odd")
    ap.add_argument("--scale", type=float, default=0.2, help="lobe scale, s")
    ap.add_argument("--gap", type=float, default=1.5, help="fill gaps >= this x step (0: all)")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    with ProcessPoolExecutor(a.jobs) as ex:
        rows = list(ex.map(partial(run, scale_s=a.scale, gap_f=a.gap), ipol_names(a.subjects)))
    for label in rows[0]:
        tp, fn, fp, ut, un, lt, ln = sum(r[label] for r in rows)
        print(f"{label:22s} TP {tp} FN {fn} FP {fp} F1 {2 * tp / (2 * tp + fn + fp):.3f} "
              f"U-turn {ut}/{un} last 3 {lt}/{ln}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
