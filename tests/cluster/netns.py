"""The network namespace the whole cluster lives in.

The node address sits on a veth pair whose two ends both stay inside the
namespace (this kernel has no dummy device), and the default route points into
it: nothing can leave. Enter it with nsenter, not `ip netns exec` (which
remounts /sys and hides the cgroup mounts).
"""

from __future__ import annotations

import contextlib
import subprocess

from . import settings as S
from .common import run


def in_ns(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([S.NSENTER, f"--net={S.NETNS_PATH}", "--", *argv], check=check)


def up() -> None:
    if not S.NETNS_PATH.exists():
        run([S.IP, "netns", "add", S.NETNS])
    in_ns(S.IP, "link", "set", "lo", "up")
    if in_ns(S.IP, "link", "show", S.VETH_NODE, check=False).returncode != 0:
        in_ns(S.IP, "link", "add", S.VETH_NODE, "type", "veth", "peer", "name", S.VETH_PEER)
    in_ns(S.IP, "addr", "replace", f"{S.NODE_IP}/{S.NODE_PREFIX}", "dev", S.VETH_NODE)
    in_ns(S.IP, "link", "set", S.VETH_NODE, "up")
    in_ns(S.IP, "link", "set", S.VETH_PEER, "up")
    # The default route points into the namespace only: nothing can leave it.
    in_ns(S.IP, "route", "replace", "default", "dev", S.VETH_NODE)
    in_ns("/usr/sbin/sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
    in_ns("/usr/sbin/sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1", check=False)


def exists() -> bool:
    return S.NETNS_PATH.exists() or S.NETNS in run([S.IP, "netns", "list"], check=False).stdout.split()


def down() -> None:
    if exists():
        run([S.IP, "netns", "delete", S.NETNS], check=False)
        with contextlib.suppress(FileNotFoundError):
            # A stale bind-mount target left by a crash.
            subprocess.run(["umount", str(S.NETNS_PATH)], capture_output=True)
            S.NETNS_PATH.unlink()
