"""What one call learns on its way down: which instance served it, whether it was warm, how long each
start phase took. The gateway opens a `CallNote` per request; the backend and the runtimes fill it in.

A context variable carries it: the pool's tasks for a request are started from the request's task,
so they see the same note.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from opentelemetry import trace

from kubemcp.telemetry.metrics import INSTANCE_START_PHASE, INSTANCE_STARTS, WARM_POOL_TAKES


@dataclass
class CallNote:
    instance: str | None = None  # "pod NAME", "pid N" or "container ID"
    warm: bool | None = None  # a warm pool was asked: whether it served the call (no start of its own)
    warm_waited: float | None = None  # seconds the call waited for a starting warm instance
    phases: dict[str, float] = field(default_factory=dict)  # seconds from the instance's start to each phase


_CALL: ContextVar[CallNote | None] = ContextVar("kubemcp_call", default=None)
_START: ContextVar[StartPhases | None] = ContextVar("kubemcp_start", default=None)


@contextmanager
def noting() -> Iterator[CallNote]:
    """Open a note for the request running in this context."""
    note = CallNote()
    token = _CALL.set(note)
    try:
        yield note
    finally:
        _CALL.reset(token)


def current_call() -> CallNote | None:
    return _CALL.get()


def leave_call() -> None:
    """What runs from here on in this task (a copy of its starter's context) belongs to no call."""
    _CALL.set(None)


def note_instance(instance: str | None) -> None:
    note = _CALL.get()
    if note is not None and instance:
        note.instance = instance


def note_warm(server: str, result: str, waited: float | None = None) -> None:
    """How a call to a server with a warm pool got its instance: `hit` a ready one, `waited` (for
    `waited` seconds) one that was starting, `miss` none (it starts its own)."""
    WARM_POOL_TAKES.labels(server=server, result=result).inc()
    note = _CALL.get()
    if note is not None:
        note.warm = result != "miss"
        note.warm_waited = waited if result == "waited" else None


class StartPhases:
    """The phases of one instance's start, timed from its beginning."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.began = time.perf_counter()
        self.reached: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        if phase in self.reached:
            return
        elapsed = time.perf_counter() - self.began
        self.reached[phase] = elapsed
        INSTANCE_START_PHASE.labels(server=self.server, phase=phase).observe(elapsed)
        trace.get_current_span().add_event(phase, {"kubemcp.elapsed_ms": round(elapsed * 1000, 3)})

    def finished(self, *, ok: bool) -> None:
        INSTANCE_STARTS.labels(server=self.server, outcome="ok" if ok else "failed").inc()
        note = _CALL.get()
        if note is not None and not note.phases:
            note.phases = {phase: round(seconds, 4) for phase, seconds in self.reached.items()}


@contextmanager
def starting(phases: StartPhases) -> Iterator[StartPhases]:
    """While a runtime starts an instance, `mark` records its phases here."""
    token = _START.set(phases)
    try:
        yield phases
    finally:
        _START.reset(token)


def mark(phase: str) -> None:
    """A runtime reached `phase` of the instance it is starting (nothing when none is being timed)."""
    phases = _START.get()
    if phases is not None:
        phases.mark(phase)
