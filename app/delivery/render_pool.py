"""Custom payload templates rendered in worker processes, bounded in CPU time and memory.

A payload template is a tenant's code. The sandbox (app/delivery/formats.py) keeps it away from
Python's internals and measures what it asks for, but a loop over a long event field, or
text doubled in a loop, still runs as long and grows as large as it likes. Rendered inside
the claim, on the thread that commits every tenant's emits, one such event stalled every
tenant. So custom templates render in worker processes, one render at a time each:

- CPU: before each render the worker arms a CPU-time timer (`template_cpu_limit`); when it
  fires the render stops with an error, and the worker goes on. The timer cannot interrupt
  one long C call (sorting 100,000 long strings), so the parent watches the worker's CPU
  time too, and kills a worker that has used twice the limit (and one that has not answered
  in 30 s, however little CPU it got); a new worker takes its place.
- memory: the worker's address space is capped at what it uses once started plus
  `template_memory_limit`. A render past it fails, and that worker exits (its heap may stay
  large) and is replaced.
- priority: workers run at nice 19, so the server's own threads come first whenever the
  machine is busy; since the limit is on CPU time, not wall time, a render that waits for a
  core is slower but not cut short. With nice 5, another tenant's emit p99 was 1.4-1.7x as
  long while a loop template rendered (2 cores, otherwise loaded); with nice 19, 1.1-1.2x.

Why processes, measured (2 busy cores, p50 per render, compiled templates): the default
templates take 0.11-0.37 ms in process and 0.17-0.43 ms through a worker, so the pipe's
round trip adds ~0.05 ms. In process a render would share the GIL: while a loop template
rendered in a thread, a thread woken by I/O (as the event loop and the writer are) waited
8.0 ms at the median instead of 1.2 ms; with the template in another process, 1.2 ms. And in
process a single C call (one huge `join`) cannot be interrupted at all. The default
templates are ours and bounded by the event's size: they render in process
(app/delivery/payloads.py), and `standard` without a template renders nothing.

The pipes carry length-prefixed frames, not pickles: the parent never unpickles what a
process running tenant code wrote. A worker reads requests until its stdin closes, so
workers end with the process that started them, however it ends.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time

from app.delivery import formats

WORKERS = 2
STARTUP_SECONDS = 30  # importing Jinja on a loaded machine
NICENESS = 19
# A render that has used its CPU limit twice over plus this is stuck in one C call: killed.
CPU_SLACK = 0.1
CHECK_SECONDS = 0.05  # how often a render that takes long is looked at
WALL_LIMIT = 30  # seconds an answer may take however little CPU it got
_LENGTH = struct.Struct("!I")
_READY = b"R"
_OK, _FAILED, _OVERRAN, _RETIRING = b"o", b"f", b"t", b"r"  # reply kinds; a retiring worker exits after its reply


class TemplateFailed(Exception):
    """A custom template made no body; the message says why, for the person who wrote it."""


class TemplateOverran(TemplateFailed):
    """It ran out of CPU time."""


class _Lost(Exception):
    """The worker did not answer: it was killed, died or closed."""


class _LostOverrunning(_Lost):
    """Killed for using too much CPU time in one C call."""


def _overran(cpu_limit: float) -> str:
    return f"stopped after {cpu_limit * 1000:g} ms of CPU time"


class _Worker:
    """One render process, used by one thread at a time."""

    def __init__(self, cpu_limit: float, memory_limit: int, wall_limit: float):
        self._cpu_limit = cpu_limit
        self._wall_limit = wall_limit
        self._process = subprocess.Popen(
            [sys.executable, "-m", "app.delivery.render_pool", repr(cpu_limit), str(memory_limit)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
        )
        self._poll = select.poll()  # not select(): a busy server's descriptors pass 1024
        self._poll.register(self._process.stdout, select.POLLIN)
        self._started = False

    def render(self, template: str, envelope: bytes) -> tuple[bytes, str | bytes]:
        """The reply's kind and its data (a body, or why there is none)."""
        if not self._started:
            self._await_answer(STARTUP_SECONDS, "the render worker did not start")
            if self._read(1) != _READY:
                raise _Lost("the render worker did not start")
            self._started = True
        text = template.encode("utf-8", "surrogatepass")  # JSON lets a lone surrogate in
        request = _LENGTH.pack(len(text)) + text + _LENGTH.pack(len(envelope)) + envelope
        try:
            with memoryview(request) as unsent:
                while unsent:
                    unsent = unsent[self._process.stdin.write(unsent):]
        except (OSError, ValueError):  # the worker exited, or its pipe was closed
            raise _Lost("the render worker stopped") from None
        self._await_answer(self._wall_limit, f"stopped: no answer within {self._wall_limit:g} s",
                           cpu_budget=2 * self._cpu_limit + CPU_SLACK)
        kind = self._read(1)
        data = self._read(_LENGTH.unpack(self._read(_LENGTH.size))[0])
        return kind, data if kind == _OK else data.decode()

    def _await_answer(self, wall_limit: float, late: str, cpu_budget: float | None = None) -> None:
        """Until the worker starts to answer. Its own CPU timer stops a render; one that
        runs on past it anyway (a single long C call, which the timer cannot interrupt) is
        cut off once it has used `cpu_budget`, and one that gets no CPU (stopped, or a
        machine too loaded to run it) after `wall_limit`."""
        cpu_before = self._cpu_seconds()
        deadline = time.monotonic() + wall_limit
        while not self._poll.poll(CHECK_SECONDS * 1000):
            if time.monotonic() > deadline:
                raise _Lost(late)
            if cpu_budget is not None and self._cpu_seconds() - cpu_before > cpu_budget:
                raise _LostOverrunning(_overran(self._cpu_limit))

    def _cpu_seconds(self) -> float:
        """CPU time the worker has used, from Linux's /proc (0 elsewhere: wall time only)."""
        try:
            with open(f"/proc/{self._process.pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()  # the name in (...) may hold spaces
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def _read(self, size: int) -> bytes:
        """`size` bytes of a reply that has begun: the worker writes it whole."""
        chunks, missing = [], size
        deadline = time.monotonic() + STARTUP_SECONDS
        while missing:
            try:
                ready = self._poll.poll(max(0.0, deadline - time.monotonic()) * 1000)
                chunk = os.read(self._process.stdout.fileno(), missing) if ready else b""
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                raise _Lost("the render worker stopped")
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def close(self, kill: bool = False) -> None:
        if kill:
            self._process.kill()
        self._process.stdin.close()  # the worker's loop ends at EOF
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()


class RenderPool:
    """Up to `workers` render processes, started when first needed; `render` from any thread
    (a caller waits while every worker is busy)."""

    def __init__(self, cpu_limit: float, memory_limit: int, workers: int = WORKERS, wall_limit: float = WALL_LIMIT):
        self.cpu_limit = cpu_limit
        self.memory_limit = memory_limit
        self.wall_limit = wall_limit
        self._slots: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        for _ in range(workers):
            self._slots.put(None)
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False

    def render(self, template: str, envelope: bytes) -> bytes:
        """The body `template` makes of `envelope`, or TemplateFailed saying why not."""
        worker = self._slots.get()
        try:
            worker = worker or self._start()
            kind, data = worker.render(template, envelope)
            if kind == _RETIRING:
                self._retire(worker)
                worker = None
        except _Lost as exc:
            self._retire(worker, kill=True)
            worker = None
            raise (TemplateOverran if isinstance(exc, _LostOverrunning) else TemplateFailed)(str(exc)) from None
        finally:
            self._slots.put(worker)
        if kind == _OK:
            return data
        raise (TemplateOverran if kind == _OVERRAN else TemplateFailed)(data)

    def _start(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise _Lost("shutting down")
            worker = _Worker(self.cpu_limit, self.memory_limit, self.wall_limit)
            self._workers.add(worker)
            return worker

    def _retire(self, worker: _Worker | None, kill: bool = False) -> None:
        if worker is None:
            return
        with self._lock:
            self._workers.discard(worker)
        worker.close(kill)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, set()
        for worker in workers:
            worker.close()


_shared: dict[tuple[float, int], RenderPool] = {}
_shared_lock = threading.Lock()


def shared_pool(cpu_limit: float, memory_limit: int) -> RenderPool:
    """This process's pool for these limits. One per process, like the writer; but the
    save-time check is reached from services that get only Settings, so it is found here
    rather than handed down. Its workers start on the first custom template."""
    with _shared_lock:
        pool = _shared.get((cpu_limit, memory_limit))
        if pool is None:
            pool = _shared[cpu_limit, memory_limit] = RenderPool(cpu_limit, memory_limit)
        return pool


@atexit.register
def _close_shared_pools() -> None:
    with _shared_lock:
        pools = list(_shared.values())
        _shared.clear()
    for pool in pools:
        pool.close()


# The worker's side: `python -m app.delivery.render_pool CPU_LIMIT MEMORY_LIMIT`.

class _Overrun(BaseException):
    """Raised by the CPU timer. Not an Exception, so no `except Exception` in Jinja's
    runtime (or anywhere a template reaches) can swallow it."""


def _stop_render(signum, frame) -> None:
    raise _Overrun


def _serve(cpu_limit: float, memory_limit: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which closes our stdin
    signal.signal(signal.SIGPROF, _stop_render)
    os.nice(NICENESS)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print goes to stderr, not into a reply
    requests = sys.stdin.buffer
    formats.default_body("slack", json.dumps(formats.sample_event()).encode())  # Jinja's lazy imports, before the cap
    _cap_memory(memory_limit)
    replies.write(_READY)
    replies.flush()
    while True:
        head = requests.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            return
        template = requests.read(_LENGTH.unpack(head)[0]).decode("utf-8", "surrogatepass")
        envelope = requests.read(_LENGTH.unpack(requests.read(_LENGTH.size))[0])
        kind, data = _render(template, envelope, cpu_limit, memory_limit)
        replies.write(kind + _LENGTH.pack(len(data)) + data)
        replies.flush()
        if kind == _RETIRING:
            return


def _render(template: str, envelope: bytes, cpu_limit: float, memory_limit: int) -> tuple[bytes, bytes]:
    try:
        signal.setitimer(signal.ITIMER_PROF, cpu_limit)
        try:
            return _OK, formats.render(template, envelope)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    except _Overrun:
        return _OVERRAN, _overran(cpu_limit).encode()
    except MemoryError:
        return _RETIRING, f"stopped: it needed more than {memory_limit / 2**20:g} MiB of memory".encode()
    except Exception as exc:  # a template is code: anything may come out of it
        return _FAILED, formats.describe(exc).encode("utf-8", "replace")


def _cap_memory(memory_limit: int) -> None:
    """Address space: what this process maps now, plus the limit (Linux's /proc)."""
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mapped + memory_limit
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


if __name__ == "__main__":
    _serve(float(sys.argv[1]), int(sys.argv[2]))
