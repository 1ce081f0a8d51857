"""`run_batch`: what ``gaitimu batch`` does, from the inputs to DIR (package docstring)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaitimu.batch.engines import (
    Progress,
    dask_client,
    default_workers,
    run_dask,
    run_local,
)
from gaitimu.batch.inputs import find_items
from gaitimu.batch.outputs import COHORT_FILE, read_parts, write_tables
from gaitimu.batch.task import PARTS, REPORTS, WORK, Options
from gaitimu.errors import BadInputError
from gaitimu.sessions.files import check_output, os_error_text
from gaitimu.workflows import check_axes_option

LOCK_FILE = "lock"


@dataclass
class BatchResult:
    """What a batch did: sessions found, analysed now, taken from an earlier run, failed
    (their rows of failed.csv) and the files written."""

    n_sessions: int
    n_analysed: int
    n_cached: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def n_done(self) -> int:
        return self.n_sessions - len(self.failed)


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[Path]:
    """DIR/.parts, held by this batch alone (a second batch on DIR is refused, one line);
    temporary leftovers of a killed batch are removed."""
    parts = out / PARTS
    try:
        parts.mkdir(parents=True, exist_ok=True)
        fd = os.open(parts / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise BadInputError(os_error_text(out, e)) from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BadInputError(f"--out {out}: another batch is writing there; wait for it or "
                                "choose another folder") from None
        for tmp in parts.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()
        shutil.rmtree(out / WORK, ignore_errors=True)
        yield parts
        shutil.rmtree(out / WORK, ignore_errors=True)
    finally:
        os.close(fd)


def run_batch(
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    workers: int | None = None,
    dask: str | None = None,
    reports: bool = False,
    cohort: bool = True,
    axes: str | None = None,
    leg_length_m: float | None = None,
    height_m: float | None = None,
    progress: bool | None = None,
    progress_every: int = 10,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> BatchResult:
    """Analyse every session of ``inputs`` into ``out_dir`` (``gaitimu batch``).

    ``workers``: local processes (default: the usable cores); ``dask``: a scheduler address,
    ``"local"`` (a LocalCluster of ``workers`` processes) or ``"local:threads"`` (one process,
    ``workers`` threads). ``reports``: also an HTML report per session in DIR/reports.
    ``axes``, ``leg_length_m``, ``height_m``: as on ``gaitimu analyze``. ``progress``: the
    live bar (None: when stderr is a terminal; else a line every ``progress_every``).

    Raises `BadInputError` (one line) for bad options, inputs that hold no session, an unusable
    DIR or a Dask scheduler that cannot be reached; a bad session never raises (failed.csv).
    """
    inputs = [str(p) for p in inputs]
    try:
        import pyarrow  # noqa: F401  (the Parquet tables)
    except ImportError:
        raise BadInputError("batch writes Parquet tables: pip install 'gaitimu[batch]' "
                            "(pyarrow)") from None
    axes = check_axes_option(axes)
    if workers is not None and workers < 1:
        raise BadInputError(f"--workers {workers}: give at least 1")
    n_workers = workers or default_workers()
    out = Path(out_dir)
    check_output(out, option="--out", kind="dir", inputs=inputs)
    if not out.exists():
        try:
            out.mkdir()
        except OSError as e:
            raise BadInputError(os_error_text(out, e)) from e
    items = find_items(inputs, skip=out)
    if not items:
        raise BadInputError("no session found in the inputs (sessions, folders holding them, "
                            "BIDS-Motion datasets or manifests)")
    opts = Options(out_dir=str(out.resolve()), axes=axes, leg_length_m=leg_length_m,
                   height_m=height_m, reports=reports)
    if reports:
        (out / REPORTS).mkdir(exist_ok=True)
    res = BatchResult(n_sessions=len(items), n_analysed=0, n_cached=0)
    done: dict[int, str] = {}
    order = {it: i for i, it in enumerate(items)}
    with _locked(out) as parts, contextlib.ExitStack() as stack:
        if dask:
            client = stack.enter_context(dask_client(dask, n_workers))
            results = run_dask(items, opts, client)
        else:
            results = run_local(items, opts, n_workers)
        bar = stack.enter_context(Progress(len(items), every=progress_every, live=progress))
        by_source = {it.name: it for it in items}
        for r in results:
            bar.update(r)
            if on_result is not None:
                on_result(r)
            if r["status"] == "failed":
                res.failed.append(r)
                continue
            res.n_cached += r["cached"]
            res.n_analysed += not r["cached"]
            done[order[by_source[r["source"]]]] = r["key"]
        keys = list(dict.fromkeys(done[i] for i in sorted(done)))
        sessions, strides = read_parts(parts, keys)
        res.failed.sort(key=lambda r: order[by_source[r["source"]]])
        write_tables(out, sessions, strides, res.failed)
        if cohort:
            from gaitimu.batch.cohort import write_cohort

            write_cohort(out / COHORT_FILE, sessions, n_failed=len(res.failed))
    res.files = {name: out / name for name in ("sessions.parquet", "strides.parquet",
                                               "failed.csv")}
    if cohort:
        res.files["cohort.html"] = out / COHORT_FILE
    return res


__all__ = ["BatchResult", "run_batch"]
