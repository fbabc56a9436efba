"""Reading a server Pod's status: the server container's state, and the waiting reasons that are final."""

from __future__ import annotations

from typing import Any

from kubemcp.kube.pods import CONTAINER

Obj = dict[str, Any]

# Waiting reasons that will not resolve by themselves: fail the call at once, naming the reason.
FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
    "RunContainerError",
}


def container_state(pod: Obj) -> tuple[str, str, str]:
    """(state, reason, message) of the server container: state is waiting, running, terminated or ''."""
    for status in pod.get("status", {}).get("containerStatuses", []) or []:
        if status.get("name") != CONTAINER:
            continue
        for state in ("terminated", "running", "waiting"):
            detail = (status.get("state") or {}).get(state)
            if detail is not None:
                reason = str(detail.get("reason", ""))
                if state == "terminated":
                    reason = f"{reason or 'Terminated'} (exit code {detail.get('exitCode')})"
                return state, reason, str(detail.get("message", ""))
    return "", "", ""
