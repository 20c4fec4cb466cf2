"""Running requests in worker processes with real deadlines.

Every request that computes (``/api/v1/batch``, ``/api/v1/explain``, ``/api/v1/call/…``) is a
job for a worker process (:mod:`llmcalc.excel.worker`); the event loop only passes bytes. Each
worker process has a *slot*: a thread of this process that hands it one job at a time and reads
its answer. The worker keeps each call to ``Limits.call_timeout_s`` itself (the call answers
``#N/A``, the batch goes on; see :mod:`.worker`). The slot is the backstop: a worker that sends
nothing for ``call_timeout_s + HARD_GRACE_S`` (stuck where its timer cannot interrupt it, or
dead) is ended with SIGKILL, the call it was on answers ``#N/A``, and a fresh process resumes the
batch after that call; after ``BATCH_TIMEOUTS`` such calls the rest answer ``#N/A`` (busy). A job
that no worker takes within ``QUEUE_TIMEOUTS × call_timeout_s`` is answered busy (503). So no
request holds a worker past its deadline and abandoned work never piles up.

Two lanes keep a few large requests from slowing everyone: the *light* lane (``processes``
workers) takes every request first; a request over ``HEAVY_BODY_BYTES`` or ``HEAVY_CELLS``
(known before computing) goes to the *heavy* lane, fewer workers at a lower CPU priority.

Worker processes come from a fork server that has imported and warmed llmcalc
(:mod:`.processes`), so a fresh one is ready in milliseconds; ``initializer`` (a picklable
callable) runs in each worker as it starts.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import pickle
import queue
import select
import threading
import time
from dataclasses import dataclass, field

from .compute import NA, Limits
from .processes import starter
from .worker import (BATCH_TIMEOUTS, HEAVY_BODY_BYTES, JSON_TYPE, SOFT_LIMITS, busy_failure, cell, error_answer,
                     failure_answer, frame, read_frame, timeout_failure)

log = logging.getLogger("llmcalc.server")

QUEUE_TIMEOUTS = 2  # a job waits at most this many call time limits for a worker (behind one that times out)
HARD_GRACE_S = 1.0 if SOFT_LIMITS else 0.0  # the worker's own timer first; then the slot ends it


@dataclass
class Answer:
    """What a route sends back: status, media type and the body's bytes."""

    status: int
    media_type: str
    body: bytes


@dataclass
class Job:
    route: str                  # batch | explain | plain
    payload: object
    plain: bool                 # errors as text (plain-text endpoint) or JSON
    light: bool = True          # may a light worker send it on to the heavy lane
    done: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class _Reroute(Exception):
    """A light worker found the job heavy."""


class Slot:
    """One worker process and the thread that feeds it and enforces the deadlines."""

    def __init__(self, lane: "Lane", index: int):
        self.lane, self.index = lane, index
        self.worker = self.stream = None
        self.ready = threading.Event()  # the first process has started (or failed to)
        self.thread = threading.Thread(target=self._loop, name=f"llmcalc-{lane.name}-{index}", daemon=True)

    # ---------------------------------------------------------------- the process
    def _start_process(self) -> None:
        lane = self.lane
        self.worker = starter().start((lane.limits, lane.heavy, lane.initializer))
        self.stream = self.worker.sock.makefile("rb")
        if self._read(time.monotonic() + 60.0) is None:  # ready ("W"): milliseconds from the fork server
            raise RuntimeError("a worker process did not start")

    def _end_process(self) -> None:
        if self.worker is not None:
            self.stream.close()
            self.worker.kill()
        self.worker = self.stream = None

    def _idle_and_alive(self) -> bool:
        """An idle worker never writes: a readable socket means it has exited."""
        return not select.select([self.worker.sock], [], [], 0)[0]

    def _read(self, deadline: float) -> tuple[bytes, bytes] | None:
        """The next frame, or None if the deadline passed or the process died (it is then ended)."""
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            self.worker.sock.settimeout(left)
            return read_frame(self.stream)
        except (TimeoutError, EOFError, OSError):
            self._end_process()
            return None

    def _send(self, route: str, payload, first: int, light: bool) -> None:
        if self.worker is not None and not self._idle_and_alive():
            self._end_process()
        if self.worker is None:
            self._start_process()
        self.worker.sock.settimeout(None)
        self.worker.sock.sendall(frame(b"J", pickle.dumps((route, payload, first, light))))

    # ---------------------------------------------------------------- the jobs
    def _loop(self) -> None:
        try:
            self._start_process()  # ready before the first job
        except Exception as exc:  # noqa: BLE001 - retried with the first job
            log.warning("could not start a worker process yet (retried with the first request): %s", exc)
            self._end_process()
        self.ready.set()
        while True:
            job = self.lane.jobs.get()
            if job is None:
                self._end_process()
                return
            if not job.done.set_running_or_notify_cancel():
                continue  # the request gave up waiting (answered busy)
            try:
                job.done.set_result(self._run(job))
            except _Reroute as exc:
                job.done.set_exception(exc)
            except Exception as exc:  # noqa: BLE001 - a bug here must not kill the slot
                log.error("worker slot failed on a %s request", job.route, exc_info=exc)
                self._end_process()
                job.done.set_result(Answer(*error_answer(503, NA, "the llmcalc server could not run this "
                                                                  "request; try again", job.plain)))

    def _run(self, job: Job) -> Answer:
        limits = self.lane.limits
        if job.route == "batch":
            return self._run_batch(job)
        self._send(job.route, job.payload, 0, job.light)
        got = self._read(time.monotonic() + limits.call_timeout_s + HARD_GRACE_S)
        if got is None:
            return Answer(*failure_answer(timeout_failure(limits), job.plain))
        tag, payload = got
        if tag == b"H":
            raise _Reroute
        return Answer(*pickle.loads(payload))

    def _run_batch(self, job: Job) -> Answer:
        limits = self.lane.limits
        # the worker's own limits: validation, then BATCH_TIMEOUTS × call_timeout_s for the calls
        batch_deadline = time.monotonic() + (BATCH_TIMEOUTS + 1) * limits.call_timeout_s + HARD_GRACE_S
        results: list[bytes] = []
        n, kills = None, 0
        self._send("batch", job.payload, 0, job.light)
        while n is None or len(results) < n:
            got = self._read(min(time.monotonic() + limits.call_timeout_s + HARD_GRACE_S, batch_deadline))
            if got is not None:
                tag, payload = got
                if tag == b"R":
                    results.append(payload)
                elif tag == b"A":
                    n = pickle.loads(payload)
                elif tag == b"H":
                    raise _Reroute
                else:  # F: the whole request is answered (refused before computing, or too large)
                    return Answer(*pickle.loads(payload))
                continue
            # The worker went silent past its limits (it has been ended): its call gets #N/A.
            if n is None:
                return Answer(*failure_answer(timeout_failure(limits), plain=False))
            kills += 1
            results.append(cell(timeout_failure(limits)))
            if kills >= BATCH_TIMEOUTS or time.monotonic() >= batch_deadline:
                results += [cell(busy_failure())] * (n - len(results))
            elif len(results) < n:
                self._send("batch", job.payload, len(results), job.light)  # a fresh process resumes
        return Answer(200, JSON_TYPE, b'{"results":[' + b",".join(results) + b"]}")


class Lane:
    """Worker slots sharing one queue of jobs; the processes start on first use."""

    def __init__(self, runner: "Runner", name: str, size: int, heavy: bool):
        self.runner, self.name, self.size, self.heavy = runner, name, size, heavy
        self.limits, self.initializer = runner.limits, runner.initializer
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.slots: list[Slot] = []
        self.lock = threading.Lock()

    def start(self, wait: bool = False) -> None:
        with self.lock:
            if not self.slots:
                self.slots = [Slot(self, i) for i in range(self.size)]
                for s in self.slots:
                    s.thread.start()
            slots = self.slots
        if wait:
            for s in slots:
                s.ready.wait(120)

    def submit(self, job: Job) -> None:
        self.start()
        self.jobs.put(job)

    def close(self) -> None:
        with self.lock:
            slots, self.slots = self.slots, []
            for _ in slots:
                self.jobs.put(None)
        for s in slots:
            s.thread.join(10)


def default_processes() -> int:
    """Light-lane worker processes: one per CPU core, at least 2, at most 8."""
    return max(2, min(os.cpu_count() or 2, 8))


class Runner:
    """The light and heavy lanes of worker processes (see the module docstring)."""

    def __init__(self, limits: Limits, processes: int | None = None, initializer=None):
        self.limits, self.initializer = limits, initializer
        light = processes or default_processes()
        self.light = Lane(self, "light", light, heavy=False)
        self.heavy = Lane(self, "heavy", max(1, light // 2), heavy=True)

    async def run(self, route: str, payload, *, plain: bool = False, size: int = 0) -> Answer:
        """Run one request and return its answer; ``size`` (the body's bytes) picks the first lane."""
        heavy = size > HEAVY_BODY_BYTES
        try:
            return await self._in_lane(self.heavy if heavy else self.light, Job(route, payload, plain, light=not heavy))
        except _Reroute:
            return await self._in_lane(self.heavy, Job(route, payload, plain, light=False))

    async def _in_lane(self, lane: Lane, job: Job) -> Answer:
        lane.submit(job)
        waiting = asyncio.wrap_future(job.done)
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), QUEUE_TIMEOUTS * self.limits.call_timeout_s)
        except asyncio.TimeoutError:
            if job.done.cancel():  # no worker took it in time; its slot will skip it
                return Answer(*failure_answer(busy_failure(), job.plain))
            return await waiting   # running: its slot answers within the deadlines
        except asyncio.CancelledError:
            job.done.cancel()
            raise

    def start(self) -> None:
        """Start the worker processes now and wait until they are ready (the server's startup)."""
        self.light.start(wait=True)
        self.heavy.start(wait=True)

    def close(self) -> None:
        """End every worker process (a later request starts them again)."""
        self.light.close()
        self.heavy.close()
