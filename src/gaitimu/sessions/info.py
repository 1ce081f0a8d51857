"""`gaitimu info`: a summary of a session as a dict (``--json``) or as readable text."""

from __future__ import annotations

from typing import Any

import numpy as np

from gaitimu.errors import clip
from gaitimu.sessions.reader import Session


def sensor_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta["sensor"]`` as a dict whatever shape a damaged or hand-made session gives it."""
    sensor = meta.get("sensor")
    if isinstance(sensor, dict):
        return sensor
    return {"name": str(sensor)} if sensor not in (None, "", [], {}) else {}


def session_info(session: Session) -> dict[str, Any]:
    """Summary of a session; the keys of docs/contracts.md#session-info.

    Keys: ``path, duration_s, sample_rate_hz, n_samples, lost_samples, loss_pct, gaps``
    (``[[start_s, end_s], ...]``), ``activity, axes, subject, source, sensor, created_utc,
    software_version, format, format_version, closed_cleanly, n_packets, n_events,
    events_by_kind, has_truth, problems, effective_rate_hz, acc_norm_median_ms2, notes``,
    and the sample timing: ``median_rate_hz`` (1 / the median interval between samples) and
    ``jitter_ms`` (the interquartile range of those intervals; 0 for a sensor-clocked session,
    a few ms for a phone's). Gaps widen a few intervals and barely move either number.
    """
    m = session.meta
    n = session.n_samples
    expected = n + session.lost_samples
    kinds: dict[str, int] = {}
    for ev in session.events:
        k = str(ev.get("kind"))
        kinds[k] = kinds.get(k, 0) + 1
    eff = None
    if n > 1 and session.t_s[-1] > session.t_s[0]:
        eff = float((n - 1) / (session.t_s[-1] - session.t_s[0]))
    acc_norm = float(np.median(np.linalg.norm(session.acc, axis=1))) if n else None
    median_rate = jitter_ms = None
    dt = np.diff(session.t_s)
    dt = dt[np.isfinite(dt)]
    if dt.size and np.median(dt) > 0:
        median_rate = float(1.0 / np.median(dt))
        q1, q3 = np.percentile(dt, [25, 75])
        jitter_ms = float(1e3 * (q3 - q1))
    return {
        "path": str(session.path),
        "duration_s": round(session.duration_s, 6),
        "sample_rate_hz": session.sample_rate_hz,
        "n_samples": n,
        "lost_samples": session.lost_samples,
        "loss_pct": round(100.0 * session.lost_samples / expected, 3) if expected else 0.0,
        "gaps": [[round(s, 6), round(e, 6)] for s, e in session.gaps],
        "activity": m.get("activity"),
        "axes": session.axes,
        "subject": m.get("subject"),
        "source": m.get("source"),
        "sensor": sensor_meta(m),
        "acc_range_g": m.get("acc_range_g"),
        "gyr_range_dps": m.get("gyr_range_dps"),
        "created_utc": m.get("created_utc"),
        "software_version": m.get("software_version"),
        "format": m.get("format"),
        "format_version": m.get("format_version"),
        "closed_cleanly": session.closed_cleanly,
        "n_packets": session.n_packets,
        "n_events": len(session.events),
        "events_by_kind": kinds,
        "has_truth": session.truth is not None or bool(session.truth_arrays),
        "effective_rate_hz": eff,
        "acc_norm_median_ms2": acc_norm,
        "median_rate_hz": median_rate,
        "jitter_ms": jitter_ms,
        "notes": m.get("notes"),
        "problems": list(session.problems),
    }


def _fmt_duration(s: float) -> str:
    if not np.isfinite(s):  # damaged sample times (reported in the problems)
        return f"{s} s"
    if s >= 3600:
        return f"{s:.1f} s ({int(s // 3600)} h {int(s % 3600 // 60)} min)"
    if s >= 60:
        return f"{s:.1f} s ({int(s // 60)} min {s % 60:.0f} s)"
    return f"{s:.2f} s"


def format_info(info: dict[str, Any], *, max_gaps: int = 10) -> str:
    """Plain-text rendering of `session_info` (readable in a terminal and when piped)."""
    sensor = info.get("sensor") if isinstance(info.get("sensor"), dict) else {}
    sensor_txt = ", ".join(
        f"{k} {v}" for k, v in sensor.items() if v not in (None, "") and k != "name"
    )
    name = sensor.get("name") or "unknown"
    rows = [
        ("session", info["path"]),
        (
            "source",
            f"{info.get('source') or 'unknown'}, created {info.get('created_utc')} "
            f"by gaitimu {info.get('software_version')} (format {info.get('format_version')})",
        ),
        ("duration", _fmt_duration(info["duration_s"])),
        (
            "samples",
            f"{info['n_samples']} at {info['sample_rate_hz']:g} Hz"
            + (
                f" (effective {info['effective_rate_hz']:.3f} Hz)"
                if info.get("effective_rate_hz")
                else ""
            ),
        ),
        (
            "timing",
            f"rate {info['median_rate_hz']:.1f} Hz (median), jitter {info['jitter_ms']:.1f} ms "
            "(IQR of intervals)"
            if info.get("median_rate_hz")
            else "-",
        ),
        (
            "loss",
            f"{info['lost_samples']} samples lost ({info['loss_pct']:.2f} %) in "
            f"{len(info['gaps'])} gap(s)",
        ),
        ("sensor", name + (f" ({sensor_txt})" if sensor_txt else "")),
        (
            "ranges",
            "unknown"
            if not (info.get("acc_range_g") or info.get("gyr_range_dps"))
            else f"acc ±{info.get('acc_range_g')} g, gyr ±{info.get('gyr_range_dps')} deg/s",
        ),
        ("axes", info["axes"]),
        ("subject", info.get("subject") or "-"),
        ("activity", info.get("activity") or "-"),
        ("packets", f"{info['n_packets']} raw packets kept"),
        ("events", ", ".join(f"{k} {v}" for k, v in info["events_by_kind"].items()) or "none"),
        ("truth", "yes (simulated ground truth)" if info["has_truth"] else "no"),
        ("closed", "cleanly" if info["closed_cleanly"] else "NOT cleanly (recovered)"),
    ]
    if info.get("notes"):
        rows.append(("notes", clip(str(info["notes"]), 200)))  # whole notes: --json
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    gaps = info["gaps"]
    if gaps:
        lines.append("gaps:")
        for s, e in gaps[:max_gaps]:
            lines.append(f"  {s:10.3f} s - {e:10.3f} s  ({e - s:.3f} s)")
        if len(gaps) > max_gaps:
            lines.append(f"  ... and {len(gaps) - max_gaps} more (see --json)")
    problems = info["problems"]
    lines.append("problems: none" if not problems else f"problems ({len(problems)}):")
    lines.extend(f"  - {p}" for p in problems)
    return "\n".join(lines)
