"""Run one function over many blocks: in this process, in worker processes, or on a Dask cluster.

Every task is a top-level function and picklable arguments (paths of on-disk arrays, slices,
numbers), so the same call runs in all three places. Results come back in the order of the items.
Tasks write their block's core into a shared on-disk array; the grid guarantees that no two tasks
write the same chunk, so no locks are needed.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence

__all__ = ["BlockExecutor"]


def _limit_threads(threads: int) -> None:
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _call(function, threads, item):
    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    return function(item)


class BlockExecutor:
    """Where block tasks run.

    Parameters
    ----------
    workers : int
        1: in this process, one block after another. More: that many worker processes on this
        machine (each using ``cpu_count // workers`` threads), started once and reused by every pass.
    scheduler : str, optional
        Address of a running Dask distributed scheduler (``tcp://host:8786``); its workers must
        have ``helpers`` installed and see the same paths. ``workers`` is then ignored.
    progress : callable, optional
        Called as ``progress(done, total, what)`` after each block.

    Use it as a context manager (``with BlockExecutor(workers=2) as executor: ...``) so that the
    worker processes or the Dask connection are closed at the end.
    """

    def __init__(self, *, workers: int = 1, scheduler: str | None = None,
                 progress: Callable[[int, int, str], None] | None = None):
        if isinstance(workers, bool) or int(workers) < 1:
            raise ValueError(f"`workers` must be at least 1, got {workers!r}.")
        self.workers = int(workers)
        self.scheduler = scheduler
        self.progress = progress
        self._pool = None
        self._client = None
        self.threads = max(1, (os.cpu_count() or 1) // self.workers) if self.workers > 1 else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def description(self) -> str:
        if self.scheduler is not None:
            return f"Dask cluster at {self.scheduler}"
        return "this process" if self.workers == 1 else f"{self.workers} worker processes"

    def _get_pool(self):
        if self._pool is None:
            from multiprocessing import get_context

            method = "forkserver" if sys.platform.startswith("linux") else "spawn"
            context = get_context(method)
            if method == "forkserver":
                context.set_forkserver_preload(["helpers.chunked.steps"])
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                             initializer=_limit_threads, initargs=(self.threads,))
        return self._pool

    def _get_client(self):
        if self._client is None:
            from ..batch import DASK_CONNECT_TIMEOUT_S, _connect

            self._client = _connect(self.scheduler, timeout_s=DASK_CONNECT_TIMEOUT_S)
        return self._client

    def map(self, function: Callable, items: Sequence, *, what: str = "blocks") -> list:
        """``[function(item) for item in items]``, run where this executor runs tasks."""
        items = list(items)
        results = [None] * len(items)
        done = 0

        def report():
            if self.progress is not None:
                self.progress(done, len(items), what)

        if self.scheduler is not None:
            from distributed import as_completed

            client = self._get_client()
            futures = {client.submit(_call, function, self.threads, item, pure=False): index
                       for index, item in enumerate(items)}
            for future in as_completed(list(futures), loop=client.loop):
                results[futures[future]] = future.result()
                done += 1
                report()
        elif self.workers == 1 or len(items) == 1:
            for index, item in enumerate(items):
                results[index] = function(item)
                done += 1
                report()
        else:
            from concurrent.futures import as_completed

            pool = self._get_pool()
            futures = {pool.submit(function, item): index for index, item in enumerate(items)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                done += 1
                report()
        return results
