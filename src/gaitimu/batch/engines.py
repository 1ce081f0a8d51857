"""Where a batch's sessions run: local worker processes (`run_local`) or a Dask cluster
(`run_dask`), one session per task and at most ``2 x workers`` tasks in flight (the parent
holds only the small result dicts), and the progress view (`Progress`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from gaitimu.batch.inputs import Item
from gaitimu.batch.task import Options, run_item
from gaitimu.errors import BadInputError

#: Tasks kept in flight per worker: enough to keep every worker busy, few enough that a
#: killed batch has little half-done work and the parent's memory stays small.
IN_FLIGHT_PER_WORKER = 2
#: `--dask local:threads`: one process, worker threads (quick to start; for small machines
#: and tests). `--dask local`: worker processes with one thread each.
LOCAL = "local"
LOCAL_THREADS = "local:threads"


#: Native thread pools of a worker (BLAS, OpenMP): one, as Dask's nanny sets them. Several
#: threads per session only oversubscribe the cores the other workers use.
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def _worker_env() -> Iterator[None]:
    """`ONE_THREAD_ENV` in the environment the workers start with (restored afterwards)."""
    old = {k: os.environ.get(k) for k in ONE_THREAD_ENV}
    os.environ.update(ONE_THREAD_ENV)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _died(item: Item, why: str) -> dict[str, Any]:
    return {"key": None, "source": item.name, "cached": False, "status": "failed",
            "exit_class": "internal", "exit_code": 70, "error": why}


def run_local(items: Sequence[Item], opts: Options, workers: int) -> Iterator[dict[str, Any]]:
    """Each item's `run_item` result, as they complete, from ``workers`` local processes.

    A worker process that dies (killed, out of memory) breaks the pool: the sessions it was
    running are tried once more in a new pool, then counted failed (``internal``). Workers
    are started fresh (``spawn``: no copy of this process's threads or loaded BLAS) with one
    native thread each (`ONE_THREAD_ENV`)."""
    todo = [(it, 0) for it in reversed(items)]
    ctx = multiprocessing.get_context("spawn")
    while todo:
        broken: list[tuple[Item, int]] = []
        with _worker_env(), ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            running: dict[Future, tuple[Item, int]] = {}
            while todo or running:
                while todo and len(running) < workers * IN_FLIGHT_PER_WORKER and not broken:
                    it, tries = todo.pop()
                    running[ex.submit(run_item, it, opts)] = (it, tries)
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    it, tries = running.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        broken.append((it, tries + 1))
        for it, tries in broken:
            if tries > 1:
                yield _died(it, "internal error: the worker process died twice on this session "
                                "(out of memory?)")
            else:
                todo.append((it, tries))


@contextlib.contextmanager
def dask_client(address: str, workers: int) -> Iterator[Any]:
    """A `distributed.Client` on ``address``, or on a new LocalCluster (``local``: ``workers``
    processes of one thread; ``local:threads``: ``workers`` threads in this process)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise BadInputError("--dask needs dask[distributed]: pip install 'gaitimu[dask]'") from None
    import dask

    with dask.config.set({"distributed.worker.daemon": False,
                          "distributed.admin.tick.limit": "30s"}):
        if address in (LOCAL, LOCAL_THREADS):
            threads = address == LOCAL_THREADS
            with LocalCluster(n_workers=1 if threads else workers,
                              threads_per_worker=workers if threads else 1,
                              processes=not threads, dashboard_address=None,
                              silence_logs=50) as cluster, Client(cluster) as client:
                yield client
            return
        try:
            client = Client(address, timeout=10)
        except (OSError, TimeoutError, ValueError) as e:
            raise BadInputError(f"--dask {address}: cannot reach the Dask scheduler ({e}); "
                                "check the address (tcp://HOST:8786) or use --dask local") from e
        with client:
            yield client


def run_dask(items: Sequence[Item], opts: Options, client: Any) -> Iterator[dict[str, Any]]:
    """Each item's `run_item` result, as they complete, from the Dask cluster of ``client``
    (the sessions' files and DIR must be visible to its workers under the same paths)."""
    from distributed import as_completed

    n_workers = max(1, sum(client.nthreads().values()))
    todo = list(reversed(items))
    ac = as_completed()
    owner: dict[str, Item] = {}

    def submit() -> None:
        it = todo.pop()
        fut = client.submit(run_item, it, opts, pure=False)
        owner[fut.key] = it
        ac.add(fut)

    for _ in range(min(len(todo), n_workers * IN_FLIGHT_PER_WORKER)):
        submit()
    for fut in ac:
        it = owner.pop(fut.key)
        try:
            result = fut.result()
        except Exception as e:  # the worker died (KilledWorker) or the task could not run
            result = _died(it, f"internal error: the Dask task failed: {type(e).__name__}: {e}")
        fut.release()
        if todo:
            submit()
        yield result


class Progress:
    """Counts, rate and ETA: a rich progress bar on a terminal, else a line on stderr every
    ``every`` sessions (and at the end)."""

    def __init__(self, total: int, *, every: int = 10, stream: Any = None,
                 live: bool | None = None) -> None:
        self.total, self.every, self.done, self.failed = total, max(1, every), 0, 0
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self.live = self.stream.isatty() if live is None else live
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn("batch"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[rate]} · {task.fields[failed]} failed"),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=Console(file=self.stream), transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task("batch", total=self.total, rate="-", failed=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.t0, 1e-9)

    def line(self) -> str:
        rate = self.rate()
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left == left else "?"
        return (f"batch: {self.done}/{self.total} sessions ({self.failed} failed), "
                f"{rate:.2f} sessions/s, ETA {eta}")

    def update(self, result: dict[str, Any]) -> None:
        self.done += 1
        self.failed += result.get("status") == "failed"
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, failed=self.failed,
                             rate=f"{self.rate():.2f} sessions/s")
        elif self.done % self.every == 0 or self.done == self.total:
            print(self.line(), file=self.stream, flush=True)


Runner = Callable[[Sequence[Item]], Iterator[dict[str, Any]]]

__all__ = ["LOCAL", "LOCAL_THREADS", "Progress", "dask_client", "default_workers", "run_dask",
           "run_local"]
