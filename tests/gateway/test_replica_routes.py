"""Where a replica sends a request of a session, and what a draining replica hands over."""

from __future__ import annotations

import json
import os
import time

from kubemcp.gateway.replicas.peers import Peers
from kubemcp.gateway.replicas.router import ADOPT_KEY, FORWARDED, MAX_HOPS, ReplicaRouter
from kubemcp.gateway.replicas.session_ids import SessionClaims, SessionIds
from kubemcp.signing import Signer
from starlette.types import Receive, Scope, Send

HERE, OTHER = "10.0.0.1:8811", "10.0.0.2:8811"
CALL = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "x"}}).encode()
ANSWER = json.dumps({"jsonrpc": "2.0", "id": 3, "result": {}}).encode()
CANCELLED = json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}).encode()


async def served_here(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("not called: the tests only ask where requests go")


def router(held: set[str], *, draining: bool = False) -> tuple[ReplicaRouter, SessionIds]:
    signer = Signer(os.urandom(32))
    ids = SessionIds(signer, HERE)
    peers = Peers(address=HERE, draining=draining)
    peers.update({HERE, OTHER}, {HERE, OTHER})  # a stale view: it still lists itself as ready
    routes = ReplicaRouter(
        served_here, ids=ids, peers=peers, holds=held.__contains__, mcp_paths=frozenset({"/mcp", "/sse"})
    )
    return routes, ids


def own_session(ids: SessionIds) -> str:
    return ids.mint(SessionClaims(HERE, "2025-06-18", {}, {"name": "t", "version": "1"}, None))


def request(method: str, session_id: str | None = None, path: str = "/mcp") -> Scope:
    headers = [] if session_id is None else [(b"mcp-session-id", session_id.encode())]
    return {"type": "http", "method": method, "path": path, "headers": headers}


def test_a_serving_replica_keeps_its_sessions_and_new_ones() -> None:
    routes, ids = router(set())
    session = own_session(ids)
    routes.holds = {session}.__contains__
    assert routes._route(request("POST", session), 0, CALL) is None
    assert routes._route(request("POST"), 0, CALL) is None


def test_a_draining_replica_hands_its_sessions_new_requests_to_the_adopter() -> None:
    routes, ids = router(set(), draining=True)
    session = own_session(ids)
    routes.holds = {session}.__contains__
    assert routes.peers.adopter(session) == OTHER  # never itself while it knows another
    assert routes._route(request("POST", session), 0, CALL) == OTHER
    assert routes._route(request("GET", session), 0, None) == OTHER  # its notification stream
    assert routes._route(request("DELETE", session), 0, b"") == OTHER  # the adopter may hold it by now
    # What belongs to its own calls in flight stays: answers to its requests, cancellations.
    assert routes._route(request("POST", session), 0, ANSWER) is None
    assert routes._route(request("POST", session), 0, CANCELLED) is None
    # New sessions and stateless requests go to a ready replica; its own status routes stay.
    assert routes._route(request("POST"), 0, CALL) == OTHER
    assert routes._route(request("GET", path="/sse"), 0, None) == OTHER
    assert routes._route(request("GET", path="/health"), 0, None) is None


def test_a_forwarded_request_is_forwarded_once_more_at_most_and_only_by_a_draining_replica() -> None:
    routes, ids = router(set(), draining=True)
    foreign = ids.mint(SessionClaims(OTHER, "2025-06-18", {}, {"name": "t", "version": "1"}, None))
    handed = request("POST", foreign)
    handed["headers"].append((FORWARDED.encode(), routes.signer.sign({"to": HERE, "t": time.time(), "h": 1}).encode()))
    assert routes._hops(handed) == 1
    assert routes._route(handed, 1, CALL) == OTHER  # handed on rather than adopted while draining
    last = request("POST", foreign)
    assert routes._route(last, MAX_HOPS, CALL) is None  # the hop limit: adopted here
    assert isinstance(last[ADOPT_KEY], SessionClaims)

    serving, _ = router(set())
    serving.ids = ids
    adopted = request("POST", foreign)
    assert serving._route(adopted, 1, CALL) is None  # a serving replica adopts what it is handed
    assert ADOPT_KEY in adopted


def test_a_forwarded_header_signed_for_another_replica_counts_as_none() -> None:
    routes, _ = router(set())
    scope = request("POST")
    scope["headers"].append((FORWARDED.encode(), routes.signer.sign({"to": OTHER, "t": time.time()}).encode()))
    assert routes._hops(scope) == 0
