"""A small MCP stdio server for container tests, standard library only (it runs on the test base image,
which has python3 and nothing else). `peer.py` speaks MCP; `peer.py shout TEXT...` prints TEXT in
capitals and exits (a POCI tool); `peer.py fail` prints to stderr and exits 3.

Tools: `whoami` (uid, gid, hostname, argv), `env` (the environment), `interfaces` (network
interfaces), `ls` (a folder's entries), `write` (a file), `hosts` (/etc/hosts).
"""

from __future__ import annotations

import json
import os
import socket
import sys

TOOLS = {
    "whoami": "uid, gid, hostname and argv of this process",
    "env": "the process environment",
    "interfaces": "network interfaces the container has",
    "ls": "entries of a folder (argument: path)",
    "write": "write a file (arguments: path, text)",
    "hosts": "the container's /etc/hosts",
}


def call(name: str, args: dict[str, str]) -> object:
    if name == "whoami":
        return {"uid": os.getuid(), "gid": os.getgid(), "hostname": socket.gethostname(), "argv": sys.argv[1:]}
    if name == "env":
        return dict(os.environ)
    if name == "interfaces":
        return sorted(os.listdir("/sys/class/net"))
    if name == "ls":
        return sorted(os.listdir(args["path"]))
    if name == "write":
        with open(args["path"], "w") as handle:
            handle.write(args.get("text", ""))
        return "written"
    if name == "hosts":
        with open("/etc/hosts") as handle:
            return handle.read()
    raise KeyError(name)


def answer(request: dict[str, object]) -> dict[str, object] | None:
    method = request.get("method")
    params: dict[str, object] = request.get("params") or {}  # type: ignore[assignment]
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "docker-peer", "version": "1.0.0"},
        }
    if method == "tools/list":
        schema = {"type": "object", "properties": {"path": {"type": "string"}, "text": {"type": "string"}}}
        return {"tools": [{"name": n, "description": d, "inputSchema": schema} for n, d in TOOLS.items()]}
    if method == "tools/call":
        try:
            result = call(str(params["name"]), params.get("arguments") or {})  # type: ignore[arg-type]
        except Exception as exc:
            return {"content": [{"type": "text", "text": f"{type(exc).__name__}: {exc}"}], "isError": True}
        return {"content": [{"type": "text", "text": json.dumps(result)}], "isError": False}
    if method == "ping":
        return {}
    return None


def serve() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if "id" not in request:
            continue
        result = answer(request)
        if result is None:
            reply = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": "method not found"}}
        else:
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["shout"]:
        print(" ".join(sys.argv[2:]).upper())
    elif sys.argv[1:2] == ["fail"]:
        print("failing on purpose", file=sys.stderr)
        sys.exit(3)
    else:
        serve()
