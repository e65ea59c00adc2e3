"""Where dataset points run: local worker processes (ProcessPoolExecutor, `jobs` at a time) or a Dask
distributed cluster. Only the parent writes the store; a stopped runner kills its jobs' tool process groups."""
from __future__ import annotations

import os
import signal
from typing import Optional

from hwgen.errors import UserError
from hwgen.spec import canonical_json

from .point import key_tool_versions, run_point

__all__ = ["LocalRunner", "DaskRunner", "drain", "is_broken_pool"]


def _worker_init() -> None:
    """Local worker processes: ignore Ctrl-C (the parent decides), turn SIGTERM into SystemExit so
    run_tool kills the running tool's process group, and die with the parent (even on kill -9)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def _term(signum, frame):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, _term)
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)   # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(1)
    except (OSError, AttributeError):
        pass


def _local_job(*args, **kwargs) -> dict:
    """run_point in a local worker; a SIGTERM (parent stop or death) ends the worker at once, after
    run_tool has killed the running tool and run_point has removed its temporary folder."""
    try:
        return run_point(*args, **kwargs)
    except SystemExit:
        os._exit(143)


class LocalRunner:
    def __init__(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.jobs = jobs
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_worker_init)

    @property
    def window(self) -> int:
        return self.jobs

    def submit(self, *args, **kwargs):
        return self.pool.submit(_local_job, *args, **kwargs)

    def wait_any(self, futures, timeout=1.0):
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return done

    @staticmethod
    def result(fut) -> dict:
        return fut.result()

    def stop(self) -> None:
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        for p in procs:
            try:
                p.terminate()
            except (OSError, ValueError, AttributeError):
                pass
        self.pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def tool_versions(self, cosim: bool, yosys: Optional[str] = None) -> dict:
        return key_tool_versions(cosim, yosys)


def _dask_tool_versions(cosim: bool, yosys: Optional[str] = None) -> dict:
    return key_tool_versions(cosim, yosys)


class DaskRunner:
    def __init__(self, scheduler: str, jobs: Optional[int]):
        try:
            from distributed import Client
        except ImportError:
            raise UserError("executor", "dask needs the `distributed` package: pip install 'hwgen[cluster]'") from None
        try:
            self.client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as err:
            raise UserError("scheduler", f"cannot connect to the Dask scheduler at {scheduler!r}: {err}") from None
        threads = sum(self.client.nthreads().values()) or 1
        self.jobs = jobs or threads

    @property
    def window(self) -> int:
        return self.jobs

    def submit(self, *args, **kwargs):
        return self.client.submit(run_point, *args, pure=False, **kwargs)

    def wait_any(self, futures, timeout=1.0):
        from distributed import wait

        try:
            done, _ = wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set()
        return set(done)

    @staticmethod
    def result(fut) -> dict:
        return fut.result()

    def stop(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass

    def close(self) -> None:
        self.client.close()

    def tool_versions(self, cosim: bool, yosys: Optional[str] = None) -> dict:
        """Tool versions as the workers see them; they must agree (they enter every key)."""
        versions = self.client.run(_dask_tool_versions, cosim, yosys)
        distinct = {canonical_json(v) for v in versions.values()}
        if len(distinct) > 1:
            raise UserError("scheduler", f"workers run different tool versions: {sorted(distinct)}; "
                                         "records would get inconsistent keys")
        return next(iter(versions.values())) if versions else key_tool_versions(cosim, yosys)


def drain(runner, items, submit, finish, failed) -> None:
    """Run `items` through `runner` in order, at most runner.window in flight: submit(item) -> future,
    finish(item, record dict) for each result. A task that raises past run_point's own guards (its worker died)
    gets failed(item, err) -> record dict instead. A dead local worker breaks the whole pool: the pool is rebuilt,
    each item whose result was the break is retried once, then recorded as failed, and the items still in flight are
    resubmitted (their retry unspent: the break was not theirs to report); a lost Dask worker's tasks (KilledWorker)
    are retried the same way, with no pool to rebuild."""
    queue = list(reversed(list(enumerate(items))))      # pop() from the end = item order
    inflight: dict = {}
    retried: set[int] = set()
    while queue or inflight:
        while queue and len(inflight) < runner.window:
            pos, item = queue.pop()
            inflight[submit(item)] = (pos, item)
        broken, pool_died = [], False
        for fut in runner.wait_any(list(inflight), timeout=1.0):
            pos, item = inflight.pop(fut)
            try:
                rec = runner.result(fut)
            except KeyboardInterrupt:
                raise
            except BaseException as err:
                broke = is_broken_pool(err)
                pool_died = pool_died or broke
                if broke and pos not in retried:
                    retried.add(pos)
                    broken.append((pos, item))
                    continue
                rec = failed(item, err)
            finish(item, rec)
        if pool_died and isinstance(runner, LocalRunner):
            # a broken local pool takes new work no more: rebuild it, even when nothing is left to retry
            broken.extend(inflight.values())      # the rebuilt pool has lost them too
            inflight.clear()
            runner.stop()
            runner.__init__(runner.jobs)
        queue.extend(sorted(broken, reverse=True))


def is_broken_pool(err: BaseException) -> bool:
    from concurrent.futures.process import BrokenProcessPool

    return isinstance(err, BrokenProcessPool) or type(err).__name__ == "KilledWorker"
