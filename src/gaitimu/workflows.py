"""What each command does, from the options to the files: the workflows the CLI calls.

The CLI (`gaitimu.cli`) parses arguments and prints; the stages (`gaitimu.analysis`,
`gaitimu.stages`, `gaitimu.pipeline`) are pure. In between, each workflow here opens what it
reads, checks every output before the (slow) work, runs the stages and writes its files
atomically; the library calls the same functions (e.g. a notebook: ``analyze_path``,
``report_sessions``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from gaitimu.analysis.speed import check_body_size
from gaitimu.consts import AUTO_AXES, parse_axes
from gaitimu.errors import BadInputError, NoGaitError
from gaitimu.pipeline import AnalysisResult, analyze_session
from gaitimu.sessions import open_session
from gaitimu.sessions.files import atomic_file, check_outputs, jsonable, os_error_text

__all__ = ["analyze_path", "check_axes_option", "open_and_analyze", "report_sessions"]


def body_overrides(leg_length_m: float | None, height_m: float | None) -> dict[str, float]:
    """The ``--leg-length``/``--height`` given (checked), to override a session's stored ones."""
    body = {"leg_length_m": check_body_size(leg_length_m, "leg_length_m"),
            "height_m": check_body_size(height_m, "height_m")}
    return {k: v for k, v in body.items() if v is not None}


def _analyze_named(path: str | os.PathLike, session: Any, axes: str | None,
                   body: dict[str, float]) -> AnalysisResult:
    """`analyze_session`, with the session's path at the start of any one-line error."""
    try:
        return (analyze_session(session, **body) if axes is None
                else analyze_session(session, axes=axes, **body))
    except (NoGaitError, BadInputError) as e:
        if str(e).startswith(str(path)):
            raise
        raise type(e)(f"{path}: {e}") from e


def check_axes_option(axes: str | None) -> str | None:
    """An ``--axes`` value: None (use the session's map), "auto" (unknown mounting: the
    alignment decides from the gait; passed on as is) or an axis map, checked with
    `gaitimu.consts.parse_axes` (`BadInputError` naming the option when it is not one)."""
    if axes is None:
        return None
    text = str(axes).strip()
    if text.lower() == AUTO_AXES:
        return AUTO_AXES
    try:
        parse_axes(text)
    except BadInputError as e:
        raise BadInputError(f"--axes: {e} (or 'auto' when the mounting is unknown)") from e
    return text


def open_and_analyze(session_path: str | os.PathLike, *, axes: str | None = None,
                     body: dict[str, float] | None = None) -> tuple[Any, AnalysisResult]:
    """Open a session and analyse it (``axes``: a checked `check_axes_option` value;
    ``body``: the checked leg length / height overrides); the session and its result, for a
    caller that also needs the session (a report, a batch row). Errors name the session."""
    session = open_session(session_path)
    if session.n_samples < 2:
        raise BadInputError(f"{session_path}: the session holds no samples")
    return session, _analyze_named(session_path, session, axes, body or {})


def analyze_path(
    session_path: str,
    *,
    strides_csv: str | None = None,
    signals_csv: str | None = None,
    axes: str | None = None,
    info_json: str | None = None,
    force: bool = True,
    leg_length_m: float | None = None,
    height_m: float | None = None,
    tests_csv: str | None = None,
) -> AnalysisResult:
    """Open a session, analyse it and write the requested files (``gaitimu analyze``).

    ``strides_csv``: one row per stance (`STRIDE_COLUMNS`); ``signals_csv``: the per-sample
    ``signals`` table (module docstring); ``tests_csv``: the self-tests, one row per hold or
    rep (`gaitimu.analysis.selftests.TEST_COLUMNS`, docs/self_tests.md; only the header for
    a gait session). Floats are written with 6 significant digits.
    ``info_json``: `AnalysisResult.info` as JSON, the evidence behind the numbers (alignment:
    heading, forward cues, side trust; per-bout left/right decisions; warnings).
    ``axes`` overrides the session's axis map (`check_axes_option`; "auto" = unknown
    mounting). ``leg_length_m``/``height_m`` override the session's stored body size
    (`check_body_size`).

    Outputs are checked before the analysis (`gaitimu.sessions.files.check_output`): never
    inside a session folder, never the session itself, never two outputs on one file, an
    existing file only with ``force`` (the CLI's ``--force``; the library replaces by
    default). Each is written atomically (temporary file, fsync, rename).
    """
    axes = check_axes_option(axes)
    body = body_overrides(leg_length_m, height_m)
    outs = check_outputs([("--strides", strides_csv), ("--signals", signals_csv),
                          ("--tests", tests_csv), ("--info", info_json)],
                         inputs=[session_path], force=force)
    _, res = open_and_analyze(session_path, axes=axes, body=body)
    for path, table in ((strides_csv, res.strides), (signals_csv, res.signals),
                        (tests_csv, res.tests)):
        if path:
            try:
                with atomic_file(outs[path], text=True) as f:
                    table.to_csv(f, index=False, float_format="%.6g")
            except OSError as e:
                raise BadInputError(os_error_text(path, e)) from e
    res.info["outputs"] = {
        "strides_csv": strides_csv,
        "signals_csv": signals_csv,
        "tests_csv": tests_csv,
        "info_json": info_json,
    }
    if info_json:
        text = json.dumps(jsonable(res.info, strict=False), indent=1, default=str)
        try:
            with atomic_file(outs[info_json]) as f:
                f.write(text.encode())
        except OSError as e:
            raise BadInputError(os_error_text(info_json, e)) from e
    return res


def report_sessions(
    paths: Sequence[str | os.PathLike],
    out_html: str | os.PathLike = "report.html",
    out_json: str | os.PathLike | None = None,
    out_csv: str | os.PathLike | None = None,
    *,
    axes: str | None = None,
    force: bool = True,
    leg_length_m: float | None = None,
    height_m: float | None = None,
    **thresholds: Any,
) -> dict:
    """Open, analyse and report on session directories (what ``gaitimu report`` does).

    ``leg_length_m``/``height_m`` override every session's stored body size (walking step
    length and speed, `gaitimu.analysis.speed`).

    Sessions are ordered by their ``created_utc`` (then by the order given), so the progress
    view runs oldest to newest. ``axes`` overrides every session's axis map ("auto":
    mounting unknown; `check_axes_option`). Raises `BadInputError` for an
    unreadable session, a bad ``axes`` or sessions of different subjects (checked before the
    analysis, `check_one_subject`) and `NoGaitError` (naming the session) when one has
    no usable gait.
    """
    from gaitimu.report.html import (  # (plotly, scipy.stats: only when a report is made)
        build_report,
        check_one_subject,
        check_report_outputs,
        session_meta,
    )

    axes = check_axes_option(axes)
    body = body_overrides(leg_length_m, height_m)
    # the outputs are checked before the (slow) analysis
    check_report_outputs(out_html, out_json, out_csv, inputs=paths, force=force)
    sessions = [open_session(p) for p in paths]
    check_one_subject([(str(p), session_meta(sess)) for p, sess in zip(paths, sessions,
                                                                        strict=True)])
    items = [(session, _analyze_named(p, session, axes, body))
             for p, session in zip(paths, sessions, strict=True)]
    items.sort(key=lambda it: str((getattr(it[0], "meta", {}) or {}).get("created_utc") or ""))
    return build_report(items, out_html, out_json, out_csv, force=force, **thresholds)
