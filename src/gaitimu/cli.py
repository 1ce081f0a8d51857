"""The ``gaitimu`` command. Thin: parses arguments, calls one library function per verb,
turns `GaitimuError` into one line on stderr and an exit code (docs/contracts.md#exit-codes).

Each verb has one handler ``_cmd_<verb>(args) -> int`` below. Handlers import their library
lazily so ``gaitimu --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from gaitimu import __version__
from gaitimu.errors import GaitimuError

log = logging.getLogger("gaitimu")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


MAX_ERROR_CHARS = 300


def one_line(text: str, *, suffix: str = "", limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` as one line of at most ``limit`` characters (plus ``suffix``): line breaks and
    other control characters become spaces, a longer text is cut with an ellipsis."""
    flat = "".join(" " if (c < " " or c == "\x7f") else c for c in text)
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat + suffix


# --------------------------------------------------------------------------- handlers
def _print_verdicts(summary: dict) -> None:
    """The report's summary card in the terminal: headline, one line per side (status and
    the plain sentence), then what would make an inconclusive result decidable."""
    from gaitimu.consts import SIDES

    card = summary["card"]
    print(card["headline"])
    for side in SIDES:
        c = card["sides"][side]
        name = "left " if side == "L" else "right"
        print(f"  {name}  {c['status'].replace('_', ' ').upper():12s} {c['sentence']}")
    for b in card.get("banners") or []:
        print(f"  ! {b['text']}" + (f" {b['fix']}" if b.get("fix") else ""))


def _cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gaitimu.demo import DemoOptions, run_demo
    from gaitimu.live.status import LiveStatus

    opts = DemoOptions(out_dir=Path(args.out), activity=args.activity, duration_s=args.duration,
                       speed=args.speed)
    print(f"gaitimu demo: recording {opts.duration_s:g} s of simulated {opts.activity} from the "
          f"virtual BLE sensor at {opts.speed:g}x real time ...", flush=True)
    with LiveStatus() as view:
        res = run_demo(opts, on_status=view)
    rec, summary, paths = res["record"], res["summary"], res["paths"]
    s = rec.stats
    print(f"recorded {rec.n_samples} samples ({rec.duration_s:.1f} s), lost {s['lost_samples']}")
    _print_verdicts(summary)
    print("\n".join(f"{k:8s} {v}" for k, v in paths.items()))
    print(f"open {paths['report']} in a browser to see the report")
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    import asyncio

    from gaitimu.sensors.client import scan_sensors

    found = asyncio.run(scan_sensors(args.timeout, include_virtual=args.virtual))
    if args.json:
        import json

        print(json.dumps([{"name": s.name, "address": s.address, "kind": s.kind, "rssi": s.rssi}
                          for s in found]))
        return 0
    if not found:
        print("no sensors found (is the sensor on? '--virtual' adds the virtual ones)")
    for s in found:
        battery = "-" if s.battery_pct is None else f"{s.battery_pct}%"
        print(f"{s.name:<20} {s.address:<20} {s.kind:<10} {s.rssi:>5} dBm  battery {battery}")
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gaitimu.live.recording import record_with_live_analysis
    from gaitimu.sensors.client import RecordOptions, default_session_path

    out = Path(args.out) if args.out else default_session_path(args.subject)
    _check_record_out(out)
    opts = RecordOptions(
        out=out, device=args.device, duration_s=args.duration, subject=args.subject,
        activity=args.activity, rate_hz=args.rate, notes=args.notes,
        leg_length_m=args.leg_length, height_m=args.height, speed_kmh=args.speed_kmh,
    )
    opts.validate()  # bad values: one line, exit 2, before any radio work
    r, _feed = record_with_live_analysis(opts, live=args.live)
    _print_recorded(r)
    return _report_write_problems(r.path)


def _print_recorded(r) -> None:
    """The closing line of a recording (`RecordResult`): samples, loss, gaps, reconnects."""
    s = r.stats
    print(f"recorded {r.n_samples} samples ({r.duration_s:.1f} s) to {r.path}; lost "
          f"{s['lost_samples']} samples ({100 * s['loss_fraction']:.2f} %) in {s['gaps']} gap(s), "
          f"{r.reconnects} reconnect(s); stopped by {r.stopped_by}"
          + (f"; {s['rejected']} packet(s) rejected (did not fit the stream)"
             if s.get("rejected") else ""))


def _cmd_test(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gaitimu.consts import DEFAULT_AXES
    from gaitimu.errors import BadInputError
    from gaitimu.live.selftest import SelfTestOptions, record_self_test
    from gaitimu.sensors.client import RecordOptions, default_session_path
    from gaitimu.workflows import check_axes_option

    stance = args.test == "single-leg-stance"
    if not stance and args.hold is not None:
        raise BadInputError("--hold is for single-leg-stance; single-leg-squat takes --reps")
    if stance and args.reps is not None:
        raise BadInputError("--reps is for single-leg-squat; single-leg-stance takes --hold")
    test = SelfTestOptions(
        args.test, hold_s=30.0 if args.hold is None else args.hold,
        reps=5 if args.reps is None else args.reps, rest_s=args.rest, first=args.first,
        scripted=args.yes, speed=1.0 if args.speed is None else args.speed,
        touchdown_at_s=args.touchdown_at,
    )
    test.validate(args.device)  # bad values: one line, exit 2, before any radio work
    out = Path(args.out) if args.out else default_session_path(args.subject)
    _check_record_out(out)
    opts = RecordOptions(out=out, device=args.device, subject=args.subject, rate_hz=args.rate,
                         notes=args.notes, axes=check_axes_option(args.axes) or DEFAULT_AXES)
    opts.validate()
    res = record_self_test(opts, test)
    r = res.record
    _print_recorded(r)
    code = _report_write_problems(r.path)
    if not res.completed:
        print(one_line(f"gaitimu test: stopped {res.stopped_in} ({r.stopped_by}); the session "
                       f"keeps the {r.duration_s:.1f} s recorded: {r.path}"), file=sys.stderr)
        return 2 if r.stopped_by == "no keyboard input" else 130
    print(f"next: gaitimu analyze {r.path} --tests tests.csv; gaitimu report {r.path}")
    return code


def _check_record_out(out) -> None:
    """``record --out``: never an existing session or file (a recording cannot be redone, so
    there is no --force), never inside a session folder or through a link loop."""
    from gaitimu.errors import BadInputError
    from gaitimu.sessions.files import check_output

    if os.path.lexists(out) and not (out.is_dir() and not any(out.iterdir())):
        raise BadInputError(f"{out} already exists; record never replaces a session: choose "
                            "another --out")
    check_output(out, option="--out", kind="session", force=True)


def _report_write_problems(path) -> int:
    """After a recording: what a full disk cost (meta.json ``write_problems``), 2 if anything
    was lost, else 0."""
    import json

    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    wp = meta.get("write_problems") or {}
    if not isinstance(wp, dict) or not wp.get("episodes"):
        return 0
    lost = int(wp.get("lost_samples") or 0)
    b = float(wp.get("max_held_bytes") or 0)
    held = f"{b / 2**20:.1f} MiB" if b >= 2**20 else f"{b / 1024:.0f} KiB"
    if lost:
        print(f"gaitimu record: disk full while writing {path}: {lost} samples lost (recorded "
              f"as a gap; up to {held} were held in memory); the rest is saved",
              file=sys.stderr)
        return 2
    print(f"gaitimu record: the disk was full for {float(wp.get('failed_s') or 0):.1f} s; "
          f"nothing lost (up to {held} held in memory and written afterwards)",
          file=sys.stderr)
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from gaitimu.consts import SELF_TESTS
    from gaitimu.errors import BadInputError
    from gaitimu.simulate import SimConfig, simulate, summary, write_session

    self_test = args.activity in SELF_TESTS
    # Options of another kind of session are refused, not ignored (docs/simulator.md).
    applies = {"duration": "walk and run", "cadence": "walk and run", "speed": "walk and run",
               "turn_every": "walk and run", "fatigue": "walk and run",
               "hold": "single-leg-stance", "touchdown_at": "single-leg-stance",
               "reps": "single-leg-squat", "depth": "single-leg-squat",
               "sway": " and ".join(SELF_TESTS)}
    for flag, kind in applies.items():
        ok = args.activity in kind.split(" and ")
        if getattr(args, flag) is not None and not ok:
            raise BadInputError(f"--{flag.replace('_', '-')} applies to {kind} only")
    if not self_test and args.duration is None:
        raise BadInputError(f"--duration is required for --activity {args.activity}")
    # Realism flags left at None keep the simulator's defaults (docs/simulator.md).
    extra = {key: getattr(args, flag) for key, flag in (
        ("speed_mps", "speed"), ("sampling_rate_hz", "rate"), ("packet_loss", "loss"),
        ("misalignment_random_deg", "misalign"), ("turn_every_s", "turn_every"),
        ("fatigue_cpd_deg", "fatigue"), ("standing_s", "standing"), ("hold_s", "hold"),
        ("reps", "reps"), ("touchdown_at_s", "touchdown_at"), ("sway_deg", "sway"),
        ("squat_depth_m", "depth"), ("cadence_spm", "cadence"), ("duration_s", "duration"),
    ) if getattr(args, flag) is not None}
    cfg = SimConfig(activity=args.activity, cpd_left_deg=args.cpd_left,
                    cpd_right_deg=args.cpd_right, seed=args.seed, **extra)
    from gaitimu.sessions.files import check_output, replace_session

    check_output(args.out, option="--out", kind="session", force=args.force)  # before the work
    sim = simulate(cfg)
    replace_session(args.out, args.force,
                    lambda tmp: write_session(sim, tmp, subject=args.subject))
    print(f"{summary(sim)} Wrote {args.out}.")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from gaitimu.analysis.speed import body_meta
    from gaitimu.sessions import import_csv
    from gaitimu.sessions.files import check_output, replace_session

    body_meta(args.leg_length, args.height, args.speed_kmh)  # bad values: before any work
    check_output(args.out, option="--out", kind="session", force=args.force, inputs=[args.file])
    replace_session(args.out, args.force, lambda tmp: import_csv(
        args.file, tmp, rate_hz=args.rate, axes=args.axes, acc_unit=args.acc_unit,
        gyr_unit=args.gyr_unit, subject=args.subject, activity=args.activity, notes=args.notes,
        leg_length_m=args.leg_length, height_m=args.height, speed_kmh=args.speed_kmh,
        fmt=args.format,
    ), inputs=[args.file])
    out = args.out
    print(f"wrote session {out} (see 'gaitimu info {out}')")
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from gaitimu.report.text import format_result
    from gaitimu.workflows import analyze_path

    res = analyze_path(args.session, strides_csv=args.strides, signals_csv=args.signals,
                       axes=args.axes, info_json=args.info, force=args.force,
                       leg_length_m=args.leg_length, height_m=args.height,
                       tests_csv=args.tests)
    print(format_result(res))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from gaitimu.report import default_csv_path
    from gaitimu.workflows import report_sessions

    csv = args.csv or default_csv_path(args.out)
    summary = report_sessions(args.sessions, args.out, args.json, csv, axes=args.axes,
                              force=args.force, leg_length_m=args.leg_length,
                              height_m=args.height)
    _print_verdicts(summary)
    print(f"report: {args.out}  strides: {csv}" + (f"  summary: {args.json}" if args.json else ""))
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    import asyncio

    from gaitimu.live.replay import replay_live, summary_text

    if args.strides:  # checked before the replay (the writing itself is replay's)
        from gaitimu.sessions.files import check_output

        check_output(args.strides, option="--strides", force=args.force, inputs=[args.session])

    def ready(url: str | None) -> None:
        if url:
            print(f"live dashboard: {url} (open it in a browser; Ctrl-C stops)", file=sys.stderr,
                  flush=True)

    res = asyncio.run(replay_live(
        args.session, speed=None if args.max else args.speed, strides_csv=args.strides,
        live=args.live, print_rows=not args.max, on_ready=ready,
        linger=(sys.stdin.isatty() if args.linger is None else args.linger) if args.live else 0,
    ))
    print(summary_text(res) + (f"; wrote {args.strides}" if args.strides else ""))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import json

    from gaitimu.sessions import format_info, open_session, session_info

    info = session_info(open_session(args.session))
    print(json.dumps(info, indent=2, default=str) if args.json else format_info(info))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from gaitimu.sessions import export_session, open_session

    files = export_session(open_session(args.session), args.out, args.format, force=args.force)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from gaitimu.batch import run_batch

    res = run_batch(args.inputs, args.out, workers=args.workers, dask=args.dask,
                    reports=args.reports, axes=args.axes, leg_length_m=args.leg_length,
                    height_m=args.height, progress_every=args.progress_every)
    print(f"batch: {res.n_done} of {res.n_sessions} sessions analysed ({res.n_cached} from an "
          f"earlier run), {len(res.failed)} failed; wrote "
          + ", ".join(str(p) for p in res.files.values()))
    if res.failed:
        print(one_line(f"gaitimu batch: warning: {len(res.failed)} of {res.n_sessions} "
                       f"sessions failed (first: {res.failed[0]['source']}: "
                       f"{res.failed[0]['error']}); see {res.files['failed.csv']}"),
              file=sys.stderr)
    return 0 if res.n_done else 1


# --------------------------------------------------------------------------- parser
def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


_AXES_HELP = ("axis map overriding the session's, e.g. x=up,y=left,z=backward; 'auto' = "
              "mounting unknown, the gait decides heading and forward")


def _body_options(s: argparse.ArgumentParser, *, store: bool) -> None:
    """``--leg-length`` and ``--height`` (walking step length and speed); with ``store``
    (record, import) also ``--speed-kmh``, all stored in the session's meta.json."""
    what = "stored with the session" if store else "overrides the session's stored value"
    s.add_argument("--leg-length", type=float, default=None, metavar="M",
                   help=f"leg length in metres (floor to greater trochanter), for walking step "
                        f"length and speed; {what}")
    s.add_argument("--height", type=float, default=None, metavar="M",
                   help=f"body height in metres (leg length = 0.53 x height, Winter 2009) "
                        f"when the leg length is not measured; {what}")
    if store:
        s.add_argument("--speed-kmh", type=float, default=None, metavar="KMH",
                       help="treadmill belt speed in km/h, stored and reported as given "
                            "(running speed is not estimated)")


def _device_options(s: argparse.ArgumentParser, device_help: str) -> None:
    """What ``record`` and ``test`` share: the sensor, the session and its labels."""
    s.add_argument("--device", default=None, metavar="NAME|ADDRESS|virtual[:KIND]",
                   help=device_help)
    s.add_argument("--out", default=None, metavar="SESSION", help="session to write")
    s.add_argument("--subject", default=None, metavar="ID", help="pseudonymous subject ID")
    s.add_argument("--rate", type=int, default=200, metavar="HZ", help="sample rate 50-400 Hz")
    s.add_argument("--notes", default=None, help="free-text notes stored with the session")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="gaitimu",
        description="Pelvic control (contralateral pelvic drop) in walking and running "
        "from one sacral IMU.",
        epilog="Exit codes: 0 ok, 1 nothing usable found (e.g. no gait), 2 bad input or usage "
        "(also: an output that exists without --force, an output inside a session folder, a "
        "full disk), 3 device/connection failure. Not a medical device.",
    )
    p.add_argument("--version", action="version", version=f"gaitimu {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)

    s = sub.add_parser("demo", help="the whole chain on the built-in virtual sensor (no hardware)")
    s.add_argument("--out", default="gaitimu-demo", metavar="DIR",
                   help="output folder (default gaitimu-demo)")
    s.add_argument("--activity", choices=("walk", "run"), default="run")
    s.add_argument("--duration", type=_positive, default=90.0, metavar="S",
                   help="seconds of gait data to record (default 90)")
    s.add_argument("--speed", type=_positive, default=6.0, metavar="X",
                   help="virtual sensor speed vs real time (default 6)")
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser("scan", help="list nearby sensors gaitimu reads, with their kind")
    s.add_argument("--timeout", type=float, default=5.0, metavar="S", help="scan time (default 5 s)")
    s.add_argument("--virtual", action="store_true",
                   help="include the built-in virtual sensors (one per kind)")
    s.add_argument("--json", action="store_true",
                   help='print a JSON list of {"name", "address", "kind", "rssi"}')
    s.set_defaults(func=_cmd_scan)

    s = sub.add_parser("record", help="record a session from a sensor over BLE")
    _device_options(s, "sensor name or address, 'virtual' for the built-in virtual sensor, "
                       "'virtual:witmotion' for the virtual WitMotion WT901BLE")
    s.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop after S seconds (default: until Ctrl-C)")
    s.add_argument("--activity", choices=("walk", "run"), default=None)
    _body_options(s, store=True)
    s.add_argument("--live", action="store_true",
                   help="serve the live dashboard on 127.0.0.1 while recording")
    s.set_defaults(func=_cmd_record)

    s = sub.add_parser("test", help="guided self-test (single-leg stance or squat) recorded "
                       "from a sensor over BLE, with prompts and a countdown")
    # gaitimu.consts.SELF_TESTS (written out: consts loads numpy; tested equal)
    s.add_argument("test", choices=("single-leg-stance", "single-leg-squat"), metavar="TEST",
                   help="single-leg-stance (Trendelenburg test) or single-leg-squat")
    _device_options(s, "sensor name or address, or 'virtual' for the built-in virtual sensor "
                       "(it plays the same test)")
    s.add_argument("--axes", default=None, metavar="MAP|auto",
                   help="how the sensor is worn, stored with the session (default "
                        "x=up,y=right,z=forward)")
    s.add_argument("--hold", type=float, default=None, metavar="S",
                   help="single-leg stance: hold per leg, 5-600 s (default 30, the usual "
                        "clinical duration)")
    s.add_argument("--reps", type=int, default=None, metavar="N",
                   help="single-leg squat: squats per leg, 1-30 (default 5)")
    s.add_argument("--rest", type=float, default=10.0, metavar="S",
                   help="rest between the legs, 0-600 s (default 10)")
    s.add_argument("--first", choices=("L", "R"), default="L",
                   help="the leg stood on first (default L)")
    s.add_argument("--yes", action="store_true",
                   help="scripted: no keyboard, the timeline runs by itself (the prompts are "
                        "still printed); without it Enter starts each leg")
    v = s.add_argument_group("virtual sensor only (--device virtual)")
    v.add_argument("--speed", type=_positive, default=None, metavar="X",
                   help="run the virtual sensor X times faster than real time (default 1)")
    v.add_argument("--touchdown-at", type=float, default=None, metavar="S",
                   help="single-leg stance: the simulated person's lifted foot touches down S s "
                        "into the first hold")
    s.set_defaults(func=_cmd_test)

    s = sub.add_parser("simulate", help="write a synthetic sacral-IMU session with ground truth")
    # walk, run and gaitimu.consts.SELF_TESTS (written out: consts loads numpy; tested equal)
    s.add_argument("--activity", required=True,
                   choices=("walk", "run", "single-leg-stance", "single-leg-squat"))
    s.add_argument("--duration", type=float, default=None, metavar="S",
                   help="session length (walk and run: required; self-tests: set by the protocol)")
    s.add_argument("--cpd-left", type=float, default=None, metavar="DEG",
                   help="mean cpd_standing_deg of left stances; self-tests: mean drop of the "
                   "unsupported side while standing on the left leg")
    s.add_argument("--cpd-right", type=float, default=None, metavar="DEG",
                   help="mean cpd_standing_deg of right stances; self-tests: the same standing "
                   "on the right leg")
    s.add_argument("--cadence", type=float, default=None, metavar="SPM", help="steps per minute")
    s.add_argument("--seed", type=int, default=0, metavar="N")
    s.add_argument("--subject", default=None, metavar="ID",
                   help="pseudonymous subject ID (default: sim-ACTIVITY-seedN)")
    s.add_argument("--out", required=True, metavar="SESSION")
    s.add_argument("--force", action="store_true",
                   help="replace an existing session at --out (once the new one is complete)")
    x = s.add_argument_group("realism options (defaults: see docs/simulator.md)")
    x.add_argument("--speed", type=_positive, default=None, metavar="M/S", help="gait speed")
    x.add_argument("--rate", type=_positive, default=None, metavar="HZ",
                   help="sample rate, 50-400 Hz (default 200)")
    x.add_argument("--loss", type=float, default=None, metavar="FRACTION",
                   help="fraction of BLE packets lost, e.g. 0.02")
    x.add_argument("--misalign", type=float, default=None, metavar="DEG",
                   help="random sensor mounting misalignment of this many degrees")
    x.add_argument("--turn-every", type=_positive, default=None, metavar="S",
                   help="walk back and forth with a 180-degree turn every S seconds")
    x.add_argument("--fatigue", type=float, default=None, metavar="DEG",
                   help="CPD grows linearly by DEG over the session (both sides)")
    x.add_argument("--standing", type=float, default=None, metavar="S",
                   help="quiet standing before gait (default 5 s; 0 = none); self-tests: "
                   "two-legged standing before each leg (default 5 s)")
    t = s.add_argument_group("self-tests (docs/self_tests.md)")
    t.add_argument("--hold", type=float, default=None, metavar="S",
                   help="single-leg stance: planned hold per leg (default 30 s)")
    t.add_argument("--reps", type=int, default=None, metavar="N",
                   help="single-leg squat: squats per leg (default 5)")
    t.add_argument("--touchdown-at", type=float, default=None, metavar="S",
                   help="single-leg stance: the lifted foot touches down S s after the first "
                   "lift-off, for 0.5-1 s")
    t.add_argument("--sway", type=float, default=None, metavar="DEG",
                   help="postural sway on one leg, SD of obliquity and tilt (default 0.3 deg)")
    t.add_argument("--depth", type=float, default=None, metavar="M",
                   help="single-leg squat: sacrum descent per squat (default 0.15 m)")
    s.set_defaults(func=_cmd_simulate)

    s = sub.add_parser("import", help="import a CSV of sensor samples or a phone recording "
                       "(Sensor Logger, phyphox) into a session")
    s.add_argument("file", metavar="FILE.csv|FILE.zip|DIR")
    s.add_argument("--format", choices=("csv", "sensor-logger", "phyphox"), default="csv",
                   help="csv (default), or a phone app's export: sensor-logger (zip or "
                        "folder), phyphox (CSV, zip or folder)")
    s.add_argument("--rate", type=float, default=None, metavar="HZ",
                   help="required for csv; phone formats: the median sample interval "
                        "(checked against HZ when given)")
    s.add_argument("--axes", required=True,
                   metavar="x=up,y=right,z=forward|phone-screen-out|phone-screen-in|auto",
                   help="where each sensor axis points on the body; phone-screen-out/-in: a "
                        "phone upright in a belt at the sacrum, screen facing away from / "
                        "toward the body; 'auto' = mounting unknown, the gait decides "
                        "heading and forward")
    s.add_argument("--acc-unit", choices=("m/s2", "g"), default="m/s2")
    s.add_argument("--gyr-unit", choices=("deg/s", "rad/s"), default="deg/s")
    s.add_argument("--out", required=True, metavar="SESSION")
    s.add_argument("--subject", default=None, metavar="ID", help="pseudonymous subject ID")
    s.add_argument("--activity", choices=("walk", "run"), default=None)
    s.add_argument("--notes", default=None, help="free-text notes stored with the session")
    _body_options(s, store=True)
    s.add_argument("--force", action="store_true",
                   help="replace an existing session at --out (once the new one is complete)")
    s.set_defaults(func=_cmd_import)

    s = sub.add_parser("analyze", help="detect gait events and compute per-stance pelvic drop")
    s.add_argument("session", metavar="SESSION")
    s.add_argument("--strides", default=None, metavar="strides.csv")
    s.add_argument("--signals", default=None, metavar="signals.csv")
    s.add_argument("--tests", default=None, metavar="tests.csv",
                   help="self-tests (single-leg stance/squat sessions): one row per hold or "
                        "rep (docs/self_tests.md)")
    s.add_argument("--info", default=None, metavar="analysis.json",
                   help="the evidence behind the numbers as JSON (heading, forward cues, "
                        "per-bout left/right decisions, warnings)")
    s.add_argument("--axes", default=None, metavar="MAP|auto", help=_AXES_HELP)
    _body_options(s, store=False)
    s.add_argument("--force", action="store_true",
                   help="replace output files that already exist")
    s.set_defaults(func=_cmd_analyze)

    s = sub.add_parser("report", help="asymmetry report (HTML, JSON, CSV)")
    s.add_argument("sessions", nargs="+", metavar="SESSION")
    s.add_argument("--out", default="report.html", metavar="report.html")
    s.add_argument("--json", default=None, metavar="summary.json")
    s.add_argument("--csv", default=None, metavar="strides.csv",
                   help="strides table (default: <report>_strides.csv beside the HTML)")
    s.add_argument("--axes", default=None, metavar="MAP|auto", help=_AXES_HELP)
    _body_options(s, store=False)
    s.add_argument("--force", action="store_true",
                   help="replace output files that already exist (report.html and the "
                        "strides CSV included)")
    s.set_defaults(func=_cmd_report)

    s = sub.add_parser("replay", help="replay a session through the live pipeline")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--speed", type=float, default=1.0, metavar="X")
    g.add_argument("--max", action="store_true", help="as fast as possible")
    s.add_argument("session", metavar="SESSION")
    s.add_argument("--strides", default=None, metavar="strides.csv")
    s.add_argument("--live", action="store_true", help="open the live dashboard")
    s.add_argument("--linger", type=float, default=None, metavar="S",
                   help="with --live: after the end, keep serving the final state S seconds "
                        "(default: until Ctrl-C when run from a terminal, else 0; inf: until "
                        "Ctrl-C)")
    s.add_argument("--force", action="store_true", help="replace --strides if it exists")
    s.set_defaults(func=_cmd_replay)

    s = sub.add_parser("info", help="summary of a session")
    s.add_argument("session", metavar="SESSION")
    s.add_argument("--json", action="store_true", help="machine-readable JSON")
    s.set_defaults(func=_cmd_info)

    s = sub.add_parser("export", help="export a session to CSV or BIDS-Motion")
    s.add_argument("session", metavar="SESSION")
    s.add_argument("--format", choices=("csv", "bids"), required=True)
    s.add_argument("--out", required=True, metavar="DIR")
    s.add_argument("--force", action="store_true",
                   help="replace files of the same name already in DIR")
    s.set_defaults(func=_cmd_export)
    s = sub.add_parser("batch", help="analyse many sessions (folders, BIDS-Motion, CSV + "
                       "manifest) on local processes or Dask into Parquet tables")
    s.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="sessions, folders holding them, BIDS-Motion datasets, manifests")
    s.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (created; a batch started again there resumes)")
    s.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: the cores); with --dask local the "
                        "cluster's workers")
    s.add_argument("--dask", default=None, metavar="ADDRESS|local",
                   help="run on a Dask cluster: a scheduler address (tcp://HOST:8786), 'local' "
                        "(a LocalCluster) or 'local:threads'; needs gaitimu[dask]")
    s.add_argument("--reports", action="store_true",
                   help="also an HTML report per session in DIR/reports")
    s.add_argument("--axes", default=None, metavar="MAP|auto", help=_AXES_HELP)
    _body_options(s, store=False)
    s.add_argument("--progress-every", type=int, default=10, metavar="N",
                   help="not on a terminal: a progress line every N sessions (default 10)")
    s.set_defaults(func=_cmd_batch)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GaitimuError as e:
        if args.debug:
            raise
        print(one_line(f"gaitimu {args.verb}: {e}"), file=sys.stderr)
        return e.exit_code
    except OSError as e:  # a write the library did not foresee: still one line, exit 2
        if args.debug:
            raise
        from gaitimu.sessions.files import os_error_text

        print(one_line(f"gaitimu {args.verb}: {os_error_text(e.filename or '?', e)}"),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gaitimu {args.verb}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which has gone: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as e:  # last resort: never a traceback without --debug
        if args.debug:
            raise
        print(
            one_line(f"gaitimu {args.verb}: internal error: {type(e).__name__}: {e}",
                     suffix=" (please report it; rerun with --debug for details)"),
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    raise SystemExit(main())
