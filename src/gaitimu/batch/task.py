"""One session of a batch, in a worker process: analyse it exactly as ``gaitimu analyze`` and
``report --json`` do (`gaitimu.workflows.analyze_path`, `gaitimu.report.summarize`; with
reports `gaitimu.report.build_report`) and write its part file atomically.

The part ``DIR/.parts/<key>.parquet`` is the session's strides table (with ``session_id``)
whose Parquet metadata holds the session's row of sessions.parquet (`SESSION_COLUMNS`). A
session that fails leaves ``<key>.failed.json`` (its row of failed.csv) instead, unless the
failure is a bug (exit class ``internal``): that is retried when the batch is started again.
Every analysis that ends (its part or failure written) appends ``<key>`` to
``DIR/.parts/analysed.log`` (what the tests count).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaitimu.batch.inputs import Item, as_session, item_key
from gaitimu.errors import GaitimuError, NoGaitError
from gaitimu.sessions.files import atomic_file, jsonable

PARTS = ".parts"
WORK = ".work"
REPORTS = "reports"
ANALYSED_LOG = "analysed.log"
SESSION_META_KEY = b"gaitimu.session"
MAX_ERROR_CHARS = 300
#: The columns of sessions.parquet, in this order (docs/contracts.md#batch).
SESSION_COLUMNS = (
    "session_id", "source", "input_kind", "subject", "activity", "created_utc",
    "duration_s", "sample_rate_hz", "lost_samples", "loss_pct", "gaps", "cadence_spm",
    "strides_L", "strides_R", "cpd_reference",
    "cpd_L_mean", "cpd_L_ci95_low", "cpd_L_ci95_high", "cpd_L_n",
    "cpd_R_mean", "cpd_R_ci95_low", "cpd_R_ci95_high", "cpd_R_n",
    "asymmetry_r_minus_l_deg", "asymmetry_ci95_low", "asymmetry_ci95_high",
    "verdict_L", "verdict_R", "flagged", "flag_kinds", "flags", "warnings", "report",
)
#: Flag kinds that mark a session as flagged (an ``inconclusive`` flag does not).
FLAG_KINDS = ("cpd_asymmetry", "cpd_elevated", "cpd_trend")


@dataclass(frozen=True)
class Options:
    """What every task of one batch shares."""

    out_dir: str
    axes: str | None = None
    leg_length_m: float | None = None
    height_m: float | None = None
    reports: bool = False

    def settings(self) -> list[tuple[str, object]]:
        """The options that change a result (part of the content key)."""
        return [("axes", self.axes), ("leg_length_m", self.leg_length_m),
                ("height_m", self.height_m)]

    @property
    def parts(self) -> Path:
        return Path(self.out_dir) / PARTS


def part_path(parts: Path, key: str) -> Path:
    return parts / f"{key}.parquet"


def failed_path(parts: Path, key: str) -> Path:
    return parts / f"{key}.failed.json"


def exit_class(e: BaseException) -> tuple[str, int]:
    """(exit class, exit code) of a session's failure, as ``gaitimu analyze`` would exit."""
    if isinstance(e, NoGaitError):
        return "no_gait", e.exit_code
    if isinstance(e, GaitimuError):
        return "bad_input", e.exit_code
    if isinstance(e, OSError):
        return "bad_input", 2
    return "internal", 70


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _num(d: Any, *keys: str) -> Any:
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def session_row(item: Item, key: str, summary: dict, report: str | None) -> dict[str, Any]:
    """The session's row of sessions.parquet from its summary (the ``report --json`` dict)."""
    cpd, quality = summary.get("cpd_deg") or {}, summary.get("data_quality") or {}
    diff = _num(summary, "asymmetry", "cpd_diff_r_minus_l_deg") or {}
    flags = summary.get("flags") or []
    row: dict[str, Any] = {
        "session_id": key, "source": item.name, "input_kind": item.kind,
        "subject": _num(summary, "session", "subject"), "activity": summary.get("activity"),
        "created_utc": _num(summary, "session", "created_utc"),
        "duration_s": summary.get("duration_s"), "sample_rate_hz": quality.get("sample_rate_hz"),
        "lost_samples": quality.get("lost_samples"), "loss_pct": quality.get("loss_pct"),
        "gaps": quality.get("gaps"), "cadence_spm": summary.get("cadence_spm"),
        "strides_L": _num(summary, "strides", "L"), "strides_R": _num(summary, "strides", "R"),
        "cpd_reference": summary.get("cpd_reference"),
        "asymmetry_r_minus_l_deg": diff.get("diff"), "asymmetry_ci95_low": diff.get("ci95_low"),
        "asymmetry_ci95_high": diff.get("ci95_high"),
        "verdict_L": _num(summary, "verdict", "L", "status"),
        "verdict_R": _num(summary, "verdict", "R", "status"),
        "flagged": any(f.get("kind") in FLAG_KINDS for f in flags),
        "flag_kinds": ";".join(f"{f.get('side')}:{f.get('kind')}" for f in flags),
        "flags": json.dumps(flags), "warnings": " | ".join(quality.get("warnings") or []),
        "report": report,
    }
    for side in ("L", "R"):
        c = cpd.get(side) or {}
        for k in ("mean", "ci95_low", "ci95_high", "n"):
            row[f"cpd_{side}_{k}"] = c.get(k)
    return jsonable({k: row.get(k) for k in SESSION_COLUMNS})


def _write_part(path: Path, strides: Any, row: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = strides.copy()
    table.insert(0, "session_id", row["session_id"])
    t = pa.Table.from_pandas(table, preserve_index=False)
    t = t.replace_schema_metadata({**(t.schema.metadata or {}),
                                   SESSION_META_KEY: json.dumps(row).encode()})
    with atomic_file(path) as f:
        pq.write_table(t, f)


def _report_name(item: Item, key: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(item.path).stem)
    return f"{stem[:60]}-{key[:8]}.html"


def _analyse(item: Item, key: str, opts: Options) -> dict[str, Any]:
    from gaitimu.report import summarize
    from gaitimu.report.html import session_meta
    from gaitimu.workflows import body_overrides, check_axes_option, open_and_analyze

    work = Path(opts.out_dir) / WORK / f"{key}-{os.getpid()}"
    with as_session(item, work) as path:
        try:
            session, res = open_and_analyze(
                path, axes=check_axes_option(opts.axes),
                body=body_overrides(opts.leg_length_m, opts.height_m))
        except GaitimuError as e:  # name the input, not a temporary session
            raise type(e)(str(e).replace(str(path), item.name)) from e
        report = None
        if opts.reports:
            from gaitimu.report import build_report

            report = f"{REPORTS}/{_report_name(item, key)}"
            work.mkdir(parents=True, exist_ok=True)
            summary = build_report([(session, res)], Path(opts.out_dir) / report,
                                   out_csv=work / "strides.csv")
        else:
            summary = summarize(res.strides, session_meta(session), res.info, tests=res.tests)
    row = session_row(item, key, summary, report)
    _write_part(part_path(opts.parts, key), res.strides, row)
    return row


def run_item(item: Item, opts: Options) -> dict[str, Any]:
    """Analyse one session unless its part exists; never raises for a bad session.

    Returns ``{"key", "source", "status": "done"|"failed", "cached": bool}`` and, for a
    failure, ``exit_class``, ``exit_code``, ``error`` (one line)."""
    out: dict[str, Any] = {"key": None, "source": item.name, "cached": False}
    try:
        key = out["key"] = item_key(item, opts.settings())
        part, failed = part_path(opts.parts, key), failed_path(opts.parts, key)
        if part.exists() and (not opts.reports or _report_done(part, opts)):
            return {**out, "status": "done", "cached": True}
        if failed.exists():
            return {**out, **json.loads(failed.read_text()), "status": "failed",
                    "cached": True}
        _analyse(item, key, opts)
        _log_analysed(opts.parts, key)
        return {**out, "status": "done"}
    except Exception as e:  # one session never stops the batch
        cls, code = exit_class(e)
        fail = {"exit_class": cls, "exit_code": code,
                "error": one_line(str(e) if cls != "internal" else
                                  f"internal error: {type(e).__name__}: {e}")}
        if out["key"] and cls != "internal":
            try:
                with atomic_file(failed_path(opts.parts, out["key"])) as f:
                    f.write(json.dumps(fail).encode())
                _log_analysed(opts.parts, out["key"])
            except OSError:
                pass
        return {**out, **fail, "status": "failed"}


def _report_done(part: Path, opts: Options) -> bool:
    """With ``--reports``: the session's report exists (else it is made again)."""
    import pyarrow.parquet as pq

    row = json.loads(pq.read_schema(part).metadata[SESSION_META_KEY])
    return bool(row.get("report")) and (Path(opts.out_dir) / row["report"]).exists()


def _log_analysed(parts: Path, key: str) -> None:
    fd = os.open(parts / ANALYSED_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{key}\n".encode())
    finally:
        os.close(fd)


__all__ = ["SESSION_COLUMNS", "Options", "exit_class", "run_item", "session_row"]
