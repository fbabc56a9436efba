"""Give a request's already-read body back to the next ASGI app: the one home of that rule, and of the
middleware shape built on it (a POST answered here when its body allows, else passed on unchanged)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def replaying(first: Message, receive: Receive) -> Receive:
    """A receive callable that answers `first` once, then reads on from `receive`."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return first

    return replay


def whole_body(body: bytes) -> Message:
    """The request message of a body read in full."""
    return {"type": "http.request", "body": body, "more_body": False}


class PostShortcut:
    """ASGI middleware base: a POST whose whole body arrived in one message and mentions one of `method_bytes`
    is offered to `answer`; when that declines (returns False), or for anything else, the request goes on to
    `app` unchanged, its body replayed. `served` counts the requests answered here."""

    method_bytes: tuple[bytes, ...]  # the quoted method names `answer` may take

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        first = await receive()
        body: bytes = first.get("body", b"")
        whole = first["type"] == "http.request" and not first.get("more_body", False)
        mentioned = whole and any(method in body for method in self.method_bytes)
        if mentioned and await self.answer(scope, body, receive, send):
            self.served += 1
            return
        await self.app(scope, replaying(first, receive), send)

    async def answer(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> bool:
        raise NotImplementedError
