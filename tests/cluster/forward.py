"""Loopback TCP forwarder into the cluster's network namespace.

Listens on a loopback address of the host's network namespace, then enters the
cluster's namespace (setns) so every outgoing connection is made inside it.
Standard library only; run as a script by the harness:

    python3 forward.py --listen 127.0.0.1:0 --netns /var/run/netns/NAME \
        --target 10.213.0.2:6443 --port-file FILE
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ipaddress
import os
import signal
import socket
import sys

CLONE_NEWNET = 0x40000000


def setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def split_hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def serve(sock: socket.socket, target: tuple[str, int]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        for w in (writer, up_writer):
            w.close()

    server = await asyncio.start_server(handle, sock=sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--netns", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--port-file")
    args = ap.parse_args()

    host, port = split_hostport(args.listen)
    if not ipaddress.ip_address(host).is_loopback:
        print(f"refusing to listen on non-loopback address {host}", file=sys.stderr)
        return 2
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    # From here on, new sockets belong to the cluster's namespace.
    setns(args.netns)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{sock.getsockname()[1]}\n")
        os.replace(tmp, args.port_file)
    asyncio.run(serve(sock, split_hostport(args.target)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
