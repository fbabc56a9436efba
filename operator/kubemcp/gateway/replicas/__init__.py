"""Gateway replicas that are interchangeable behind one Service.

A 2025-era session lives on the replica that opened it (its *owner*): every request of the session,
whichever replica it reaches, is forwarded to the owner, so everything the session holds (its
streams, log level, subscriptions, per-session servers, server-to-client requests in flight) stays
in one place. The session ID says which replica owns it and carries what the session was opened
with (protocol version, client capabilities and identity, principal), signed with a key the
replicas share; when the owner is gone, one replica — the same for every replica that asks —
adopts the session from its ID, and the client goes on with the same session. Legacy SSE sessions
are forwarded to their owner the same way (their stream dies with it; the client reconnects).
Stateless 2026-07-28 requests are served wherever they arrive.
"""
