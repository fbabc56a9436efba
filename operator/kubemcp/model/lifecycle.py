"""Lifecycles: how long an instance of a server lives. Every rule that depends on one lives here."""

from __future__ import annotations

from enum import StrEnum


class Lifecycle(StrEnum):
    """`perCall` (default): an instance per request. `perSession`: one per client session.
    `longLived`: one shared instance, stopped when idle."""

    PER_CALL = "perCall"
    PER_SESSION = "perSession"
    LONG_LIVED = "longLived"

    @classmethod
    def effective(cls, declared: str | None, *, long_lived: bool = False) -> Lifecycle:
        """The lifecycle set explicitly, else the catalog entry's `longLived`, else per call."""
        if declared is not None:
            return cls(declared)
        return cls.LONG_LIVED if long_lived else cls.PER_CALL

    @property
    def words(self) -> str:
        return {"perCall": "per call", "perSession": "per session", "longLived": "long-lived"}[self.value]

    @property
    def resident(self) -> bool:
        """Whether an instance outlives the request that started it."""
        return self is not Lifecycle.PER_CALL

    def resident_key(self, session: object | None) -> int | None:
        """Which resident instance serves a request: None means a fresh per-call instance.

        perSession instances are keyed by the client session; a request without one (stateless
        2026-07-28 HTTP requests carry no session) gets its own per-call instance.
        """
        if self is Lifecycle.LONG_LIVED:
            return 0
        if self is Lifecycle.PER_SESSION and session is not None:
            return id(session)
        return None

    @property
    def has_deadline(self) -> bool:
        """Only a per-call instance has a deadline: a resident one runs until it is idle."""
        return self is Lifecycle.PER_CALL

    @property
    def poolable(self) -> bool:
        """Whether instances can be started ahead of demand (a warm pool): each serves one call."""
        return self is Lifecycle.PER_CALL

    @property
    def pod_role(self) -> str:
        """The `kubemcp.dev/role` label of a Pod serving calls under this lifecycle."""
        return "call" if self is Lifecycle.PER_CALL else "resident"
