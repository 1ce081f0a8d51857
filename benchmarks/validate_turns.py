"""Validate turn detection (`gaitimu.analysis.turns.detect_turns`).

Data:

* ``ipol_lowerback`` (../shared/data): 110 real L5 walking trials, each 10 m straight, a
  U-turn, 10 m back. The per-trial JSON gives ``UTurnBoundaries`` (sample indices, from the
  foot-sensor reference) and the footsteps. Per trial we score:

  - the number of turns found inside the trial (``TrialBoundaries``) and of turns >= 90 deg
    (exactly one expected);
  - the U-turn (the largest turn overlapping the reference U-turn): its angle, against
    the heading change between the two straight passes measured from the data itself
    (mean ``yaw_deg`` over the second pass minus over the first: the passes are the
    trial's parts before and after ``UTurnBoundaries``, their first and last 1 s left
    out);
  - its start and end against ``UTurnBoundaries``, and its reference steps (ICs in the
    reference U-turn) against the reference ICs inside the detected turn.

  Results for odd subjects, even subjects and all. The settings are the literature's
  (El-Gohary et al. 2014 via mobgap): nothing was fitted on IPOL.
* simulated sessions (`gaitimu.simulate`, walk and run, ``turn_every_s``): the simulator's
  true turns (``truth["turns"]``: 180 deg, start/end, direction) against the detected
  ones, after the product's own conditioning and alignment (`pipeline.pelvis_signals`).

Run from the repository root::

    .venv/bin/python benchmarks/validate_turns.py --jobs 2
    .venv/bin/python benchmarks/validate_turns.py --frame earth --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from validate_events import IPOL, IPOL_AXES, IPOL_FS, ipol_names, ipol_reference, load_ipol

FRAME = "body"
PASS_TRIM_S = 1.0


def _body(t_s, acc, gyr, fs, axes):
    from gaitimu.pipeline import pelvis_signals

    body, _cond, _info = pelvis_signals(t_s, acc, gyr, sampling_rate_hz=fs, axes=axes)
    return body


def run_ipol_trial(name: str, frame: str = FRAME) -> dict:
    from gaitimu.analysis.turns import detect_turns, step_turn_ids

    t_s, acc, gyr, meta = load_ipol(name)
    body = _body(t_s, acc, gyr, IPOL_FS, IPOL_AXES)
    ic, _side, _fc = ipol_reference(meta)
    turns = detect_turns(body, sampling_rate_hz=IPOL_FS, frame=frame, step_times_s=ic)
    lo, hi = (b / IPOL_FS for b in meta["TrialBoundaries"])
    u0, u1 = (b / IPOL_FS for b in meta["UTurnBoundaries"])
    inside = turns[(turns["end_s"] > lo) & (turns["start_s"] < hi)]
    big = inside[inside["angle_deg"].abs() >= 90]
    tt = body["t_s"].to_numpy()
    yaw = body["yaw_deg"].to_numpy()
    ok = body["valid"].to_numpy(bool)
    m1 = ok & (tt >= lo + PASS_TRIM_S) & (tt < u0 - PASS_TRIM_S)
    m2 = ok & (tt > u1 + PASS_TRIM_S) & (tt <= hi - PASS_TRIM_S)
    pass_change = float(yaw[m2].mean() - yaw[m1].mean()) if m1.any() and m2.any() else np.nan
    row = {
        "name": name,
        "subject": int(meta["Subject"]),
        "n_turns": len(inside),
        "n_turns_ge90": len(big),
        "n_turns_total": len(turns),
        "pass_change_deg": pass_change,
        "ref_uturn_s": [u0, u1],
        "gap_in_trial": bool((~ok[(tt >= lo) & (tt <= hi)]).any()),
    }
    # the rotation the reference U-turn boundaries themselves enclose (gyr_is, measured)
    ur = ok & (tt >= u0) & (tt < u1)
    row["ref_window_angle_deg"] = float(body["gyr_is"].to_numpy()[ur].sum() / IPOL_FS)
    ov = inside[(inside["end_s"] > u0) & (inside["start_s"] < u1)]
    # every other turn: where it is, and whether the heading really changed (mean yaw over
    # the 0.5 s after it, or the last 0.5 s of the recording, against the second pass)
    extra = []
    for _, x in inside.drop(ov.index).iterrows():
        after = ok & (tt >= x["end_s"]) & (tt < x["end_s"] + 0.5)
        if not after.any():
            after = ok & (tt >= tt[-1] - 0.5)
        before = m2 if x["start_s"] > u1 else m1
        extra.append({
            "start_s": float(x["start_s"]), "end_s": float(x["end_s"]),
            "angle_deg": float(x["angle_deg"]), "after_trial_end_s": float(x["end_s"] - hi),
            "where": "end" if x["start_s"] > u1 else ("start" if x["end_s"] < u0 else "mid"),
            "heading_change_deg": float(yaw[after].mean() - yaw[before].mean())
            if before.any() else np.nan,
        })
    row["extra_turns"] = extra
    if len(ov):
        u = ov.loc[ov["angle_deg"].abs().idxmax()]
        ref_in = (ic >= u0) & (ic <= u1)
        det_in = step_turn_ids(ic, turns) == int(u["turn_id"])
        row.update(
            {
                "uturn_found": True,
                "angle_deg": float(u["angle_deg"]),
                "duration_s": float(u["duration_s"]),
                "peak_rate_dps": float(u["peak_rate_dps"]),
                "start_err_s": float(u["start_s"] - u0),
                "end_err_s": float(u["end_s"] - u1),
                "spans_gap": bool(u["spans_gap"]),
                "ref_steps": int(ref_in.sum()),
                "det_steps": int(det_in.sum()),
                "steps_both": int((ref_in & det_in).sum()),
            }
        )
    else:
        row["uturn_found"] = False
    return row


def _pct(x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0}
    q = np.percentile(x, [0, 5, 25, 50, 75, 95, 100])
    return {"n": int(x.size), "mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
            "min": q[0], "p5": q[1], "p25": q[2], "median": q[3], "p75": q[4], "p95": q[5], "max": q[6]}


def summarize_ipol(rows: list[dict]) -> dict:
    found = [r for r in rows if r["uturn_found"]]
    n_ge90 = np.array([r["n_turns_ge90"] for r in rows])
    n_all = np.array([r["n_turns"] for r in rows])
    ang = np.abs([r["angle_deg"] for r in found])
    passc = np.abs([r["pass_change_deg"] for r in found])
    extra = [x for r in rows for x in r["extra_turns"]]
    sign_ok = [np.sign(r["angle_deg"]) == np.sign(r["pass_change_deg"]) for r in found]
    ref_steps = sum(r["ref_steps"] for r in found)
    det_steps = sum(r["det_steps"] for r in found)
    both = sum(r["steps_both"] for r in found)
    return {
        "trials": len(rows),
        "exactly_one_ge90": int((n_ge90 == 1).sum()),
        "none_ge90": int((n_ge90 == 0).sum()),
        "more_than_one_ge90": int((n_ge90 > 1).sum()),
        "exactly_one_turn_any_angle": int((n_all == 1).sum()),
        "extra_turns_45_90": int(sum(max(r["n_turns"] - r["n_turns_ge90"], 0) for r in rows)),
        "uturn_found": len(found),
        "abs_angle_deg": _pct(ang),
        "abs_pass_change_deg": _pct(passc),
        "angle_minus_pass_change_deg": _pct(ang - passc),
        "direction_agrees_with_passes": int(np.sum(sign_ok)),
        "left_turns": int(sum(r["angle_deg"] > 0 for r in found)),
        "duration_s": _pct([r["duration_s"] for r in found]),
        "peak_rate_dps": _pct([r["peak_rate_dps"] for r in found]),
        "start_err_s": _pct([r["start_err_s"] for r in found]),
        "end_err_s": _pct([r["end_err_s"] for r in found]),
        "abs_start_err_s": _pct(np.abs([r["start_err_s"] for r in found])),
        "abs_end_err_s": _pct(np.abs([r["end_err_s"] for r in found])),
        "ref_uturn_steps": ref_steps,
        "ref_uturn_steps_in_detected_turn": both,
        "detected_turn_steps": det_steps,
        "step_recall": both / ref_steps if ref_steps else np.nan,
        "step_precision": both / det_steps if det_steps else np.nan,
        "turns_spanning_gap": int(sum(r["spans_gap"] for r in found)),
        "abs_ref_window_angle_deg": _pct(np.abs([r["ref_window_angle_deg"] for r in rows])),
        "extra_turns": extra,
        "extra_turns_where": {w: sum(x["where"] == w for x in extra) for w in ("start", "mid", "end")},
        "extra_turns_heading_confirmed": int(sum(
            abs(x["heading_change_deg"]) >= 0.5 * abs(x["angle_deg"]) for x in extra)),
    }


def _run_ipol(args: tuple[str, str]) -> dict:
    return run_ipol_trial(*args)


def validate_ipol(jobs: int, frame: str) -> tuple[dict, list[dict]]:
    names = ipol_names()
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            rows = list(ex.map(_run_ipol, [(n, frame) for n in names]))
    else:
        rows = [run_ipol_trial(n, frame) for n in names]
    out = {
        "all": summarize_ipol(rows),
        "odd_subjects": summarize_ipol([r for r in rows if r["subject"] % 2 == 1]),
        "even_subjects": summarize_ipol([r for r in rows if r["subject"] % 2 == 0]),
    }
    return out, rows


SIM_CASES = [
    dict(activity="walk", duration_s=90, turn_every_s=15.0),
    dict(activity="run", duration_s=90, turn_every_s=15.0),
    dict(activity="walk", duration_s=90, turn_every_s=15.0, misalignment_random_deg=20.0,
         packet_loss=0.02, packet_loss_burst=4.0, sampling_rate_hz=100.0),
    dict(activity="run", duration_s=90, turn_every_s=15.0, misalignment_random_deg=20.0,
         packet_loss=0.02, packet_loss_burst=4.0),
]


def run_sim(case: dict, seed: int, frame: str = FRAME) -> dict:
    from gaitimu.analysis.turns import detect_turns
    from gaitimu.simulate import SimConfig, simulate

    sim = simulate(SimConfig(seed=seed, **case))
    fs = float(sim.sample_rate_hz)
    body = _body(sim.t_s, sim.acc, sim.gyr, fs, "x=up,y=right,z=forward")
    turns = detect_turns(body, sampling_rate_hz=fs, frame=frame)
    truth = sim.truth["turns"]
    matched, ang_err, start_err, end_err, dir_ok, gap_ang = 0, [], [], [], [], []
    used = set()
    for tr in truth:
        ov = turns[(turns["end_s"] > tr["start_s"]) & (turns["start_s"] < tr["end_s"])]
        if not len(ov):
            continue
        k = int(ov["angle_deg"].abs().idxmax())
        used.add(k)
        u = turns.loc[k]
        sign = 1.0 if tr["direction"] == "left" else -1.0
        matched += 1
        ang_err.append(float(u["angle_deg"] * sign - 180.0))
        dir_ok.append(u["direction"] == tr["direction"])
        gap_ang.append(bool(u["spans_gap"]))
        start_err.append(float(u["start_s"] - tr["start_s"]))
        end_err.append(float(u["end_s"] - tr["end_s"]))
    return {
        "case": case["activity"] + ("_misaligned_loss" if case.get("packet_loss") else ""),
        "seed": seed,
        "true_turns": len(truth),
        "detected": len(turns),
        "matched": matched,
        "false": len(turns) - len(used),
        "direction_ok": int(np.sum(dir_ok)),
        "angle_err_deg": ang_err,
        "spans_gap": gap_ang,
        "start_err_s": start_err,
        "end_err_s": end_err,
        "gaps": int((~body["valid"].to_numpy(bool)).sum()),
    }


def _run_sim(args: tuple[dict, int, str]) -> dict:
    return run_sim(*args)


def validate_sim(jobs: int, frame: str, seeds: int) -> dict:
    work = [(c, s, frame) for c in SIM_CASES for s in range(seeds)]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            rows = list(ex.map(_run_sim, work))
    else:
        rows = [_run_sim(w) for w in work]
    out = {}
    for case in sorted({r["case"] for r in rows}):
        rr = [r for r in rows if r["case"] == case]
        ae = np.concatenate([r["angle_err_deg"] for r in rr] or [[]])
        sg = np.concatenate([r["spans_gap"] for r in rr] or [[]]).astype(bool)
        out[case] = {
            "sessions": len(rr),
            "true_turns": sum(r["true_turns"] for r in rr),
            "matched": sum(r["matched"] for r in rr),
            "false_turns": sum(r["false"] for r in rr),
            "direction_ok": sum(r["direction_ok"] for r in rr),
            "angle_err_deg": _pct(ae),
            "abs_angle_err_deg": _pct(np.abs(ae)),
            "turns_spanning_gap": int(sg.sum()),
            "angle_err_deg_no_gap": _pct(ae[~sg]),
            "angle_err_deg_gap": _pct(ae[sg]),
            "start_err_s": _pct(np.concatenate([r["start_err_s"] for r in rr] or [[]])),
            "end_err_s": _pct(np.concatenate([r["end_err_s"] for r in rr] or [[]])),
        }
    return out


def _fmt(d: dict, key: str, nd: int = 1) -> str:
    v = d[key]
    if not v.get("n"):
        return "n/a"
    return (f"median {v['median']:.{nd}f} [p5 {v['p5']:.{nd}f}, p95 {v['p95']:.{nd}f}] "
            f"(min {v['min']:.{nd}f}, max {v['max']:.{nd}f})")


def print_ipol(res: dict) -> None:
    for part in ("odd_subjects", "even_subjects", "all"):
        r = res[part]
        print(f"IPOL {part}: {r['trials']} trials; exactly one turn >= 90 deg: "
              f"{r['exactly_one_ge90']} (none {r['none_ge90']}, >1 {r['more_than_one_ge90']}); "
              f"exactly one turn of any angle: {r['exactly_one_turn_any_angle']}; "
              f"extra 45-90 deg turns: {r['extra_turns_45_90']}")
        print(f"  |U-turn angle| deg: {_fmt(r, 'abs_angle_deg')}")
        print(f"  |pass heading change| deg: {_fmt(r, 'abs_pass_change_deg')}")
        print(f"  |angle| - |pass change| deg: {_fmt(r, 'angle_minus_pass_change_deg')}; "
              f"direction agrees: {r['direction_agrees_with_passes']}/{r['uturn_found']} "
              f"(left {r['left_turns']})")
        print(f"  duration s: {_fmt(r, 'duration_s', 2)}; peak rate deg/s: "
              f"{_fmt(r, 'peak_rate_dps', 0)}")
        print(f"  start - ref s: {_fmt(r, 'start_err_s', 2)}; end - ref s: "
              f"{_fmt(r, 'end_err_s', 2)}")
        print(f"  reference U-turn steps inside the detected turn: "
              f"{r['ref_uturn_steps_in_detected_turn']}/{r['ref_uturn_steps']} "
              f"(recall {r['step_recall']:.3f}); detected-turn steps in the reference U-turn: "
              f"precision {r['step_precision']:.3f}; turns spanning a gap: "
              f"{r['turns_spanning_gap']}")
        print(f"  |rotation inside the reference U-turn boundaries| deg: "
              f"{_fmt(r, 'abs_ref_window_angle_deg')}")
        print(f"  other turns: {len(r['extra_turns'])} {r['extra_turns_where']}, heading "
              f"change confirmed by the yaw after them (>= half their angle): "
              f"{r['extra_turns_heading_confirmed']}; |angle| deg "
              f"{sorted(round(abs(x['angle_deg'])) for x in r['extra_turns'])}")


def print_sim(res: dict) -> None:
    for case, r in res.items():
        print(f"sim {case}: {r['sessions']} sessions, {r['true_turns']} true turns, matched "
              f"{r['matched']}, false {r['false_turns']}, direction ok {r['direction_ok']}")
        print(f"  angle error deg: {_fmt(r, 'angle_err_deg')}; |error| "
              f"{_fmt(r, 'abs_angle_err_deg')}")
        print(f"  turns spanning a gap: {r['turns_spanning_gap']}; error without gap: "
              f"{_fmt(r, 'angle_err_deg_no_gap')}; with: {_fmt(r, 'angle_err_deg_gap')}")
        print(f"  start - true s: {_fmt(r, 'start_err_s', 2)}; end - true s: "
              f"{_fmt(r, 'end_err_s', 2)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--frame", choices=("body", "earth"), default=FRAME)
    ap.add_argument("--sim-seeds", type=int, default=5)
    ap.add_argument("--no-sim", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    out: dict = {"frame": args.frame}
    if IPOL.exists():
        out["ipol"], out["ipol_rows"] = validate_ipol(args.jobs, args.frame)
        print_ipol(out["ipol"])
        bad = [r["name"] for r in out["ipol_rows"] if r["n_turns_ge90"] != 1]
        print(f"  trials without exactly one turn >= 90 deg: {bad}")
    else:
        print(f"IPOL data not found at {IPOL}: skipped")
    if not args.no_sim:
        out["sim"] = validate_sim(args.jobs, args.frame, args.sim_seeds)
        print_sim(out["sim"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
