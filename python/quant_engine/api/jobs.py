"""Long work as jobs: a submission answers 202 with a job id at once; the work runs in a bounded
worker pool (threads: the hot loops are Rust and Numba kernels that do not hold the interpreter)
and its status, progress and result are read at ``GET /jobs/{id}``.

Guarantees (``docs/api.md``):

* the event loop never runs the work: :meth:`JobRunner.submit` only records and enqueues;
* at most ``workers`` jobs run at once and at most ``max_queued`` wait; a submission beyond that is
  refused (429 with ``Retry-After``), never buffered without bound;
* finished jobs are kept (newest ``history`` of them) so a client that polls late still finds the
  result; older finished ones are forgotten (404);
* a queued job can be cancelled at once; a running one stops at its next progress report
  (cooperative: a kernel call in flight is not interrupted);
* an exception in the work marks the job ``failed`` with a one-line reason (typed errors of the
  engine keep their message; anything else is logged with its traceback and reported as an
  internal error), it never reaches the server loop.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from quant_engine.api.errors import error_message, status_of

__all__ = ["Job", "JobRunner", "JobCancelled", "QueueFull", "Progress", "JOB_STATES"]

log = logging.getLogger("quant_engine.api.jobs")

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
"""A job's states; the last three are final."""

Progress = Callable[[float, str], None]
"""What work reports progress through: ``progress(fraction in [0, 1], message)``; raises
:class:`JobCancelled` when the job was cancelled."""


class JobCancelled(Exception):
    """Raised inside work whose job was cancelled (at its next progress report)."""


class QueueFull(Exception):
    """The runner already holds ``max_queued`` waiting jobs."""


@dataclass
class Job:
    """One job's record (the runner's lock guards every field)."""

    id: str
    kind: str
    state: str = "queued"
    progress: float = 0.0
    message: str = ""
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    result: Any = None
    error: dict[str, str] | None = None
    cancel_requested: bool = False

    @property
    def final(self) -> bool:
        """Whether the job has finished (succeeded, failed or cancelled)."""
        return self.state in ("succeeded", "failed", "cancelled")


class JobRunner:
    """A bounded pool running jobs; see the module docstring for its guarantees."""

    def __init__(self, *, workers: int = 2, max_queued: int = 64, history: int = 256) -> None:
        if workers < 1 or max_queued < 1 or history < 1:
            raise ValueError("workers, max_queued and history must be at least 1")
        self.workers = workers
        self.max_queued = max_queued
        self.history = history
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qe-job")
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._closed = False

    def submit(self, kind: str, work: Callable[[Progress], Any]) -> Job:
        """Records a job of ``kind`` and enqueues ``work(progress)``; raises :class:`QueueFull`."""
        with self._lock:
            if self._closed:
                raise QueueFull("the server is shutting down")
            waiting = sum(1 for j in self._jobs.values() if j.state == "queued")
            if waiting >= self.max_queued:
                raise QueueFull(f"{waiting} jobs are already waiting (at most {self.max_queued})")
            job = Job(id=uuid.uuid4().hex, kind=kind)
            self._jobs[job.id] = job
            self._forget_old()
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job | None:
        """A copy of the job's record, or ``None`` (unknown or forgotten)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else Job(**vars(job))

    def list(self, *, kind: str | None = None, state: str | None = None, limit: int = 100) -> list[Job]:
        """Copies of the newest jobs first, optionally of one kind and state."""
        with self._lock:
            jobs = [Job(**vars(j)) for j in reversed(self._jobs.values())]
        return [j for j in jobs if (kind is None or j.kind == kind) and (state is None or j.state == state)][:limit]

    def cancel(self, job_id: str) -> Job | None:
        """Cancels a queued job at once, asks a running one to stop; a finished job is unchanged.
        Returns the record (``None`` when unknown)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.state == "queued":
                self._finish(job, "cancelled", message="cancelled before it started")
            elif job.state == "running":
                job.cancel_requested = True
            return Job(**vars(job))

    def counts(self) -> dict[str, int]:
        """Jobs held, by state."""
        with self._lock:
            out = dict.fromkeys(JOB_STATES, 0)
            for j in self._jobs.values():
                out[j.state] += 1
            return out

    def close(self, *, wait: bool = False) -> None:
        """Refuses new jobs, cancels the queued ones and asks running ones to stop."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                if job.state == "queued":
                    self._finish(job, "cancelled", message="the server stopped")
                elif job.state == "running":
                    job.cancel_requested = True
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _run(self, job: Job, work: Callable[[Progress], Any]) -> None:
        with self._lock:
            if job.state != "queued":  # cancelled while waiting
                return
            job.state, job.started_at = "running", time.time()

        def progress(fraction: float, message: str = "") -> None:
            with self._lock:
                if job.cancel_requested:
                    raise JobCancelled()
                job.progress = min(max(float(fraction), 0.0), 1.0)
                job.message = message

        try:
            result = work(progress)
        except JobCancelled:
            with self._lock:
                self._finish(job, "cancelled", message="cancelled while running")
            return
        except Exception as exc:  # typed errors keep their message; anything else is a defect
            status, code = status_of(exc)
            if status >= 500:
                log.error("job %s (%s) failed", job.id, job.kind, exc_info=exc)
            error = {
                "code": code,
                "message": error_message(exc) if status < 500 else "internal error (see the server log)",
            }
            with self._lock:
                self._finish(job, "failed", error=error)
            return
        with self._lock:
            self._finish(job, "succeeded", result=result)

    def _finish(self, job: Job, state: str, *, result: Any = None, error: dict[str, str] | None = None,
                message: str | None = None) -> None:  # fmt: skip
        job.state, job.finished_at, job.result, job.error = state, time.time(), result, error
        if state == "succeeded":
            job.progress = 1.0
        if message is not None:
            job.message = message
        self._forget_old()

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.final]
        for job_id in finished[: max(0, len(finished) - self.history)]:
            del self._jobs[job_id]
