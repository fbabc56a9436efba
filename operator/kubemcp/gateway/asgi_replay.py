"""Give a request's already-read body back to the next ASGI app: the one home of that rule."""

from __future__ import annotations

from starlette.types import Message, Receive


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
