"""How the runtime reads a server Pod's state while waiting for it."""

from __future__ import annotations

from typing import Any

import pytest
from kubemcp.errors import ServerUnavailableError
from kubemcp.kube.client import ConflictError, ForbiddenError, KubeApiError, NotFoundError, _error, path_for
from kubemcp.kube.pod_status import container_state
from kubemcp.model.entry import CatalogEntry, CatalogSource
from kubemcp.model.spec import build_spec
from kubemcp.runtimes.kubernetes_pods import KubernetesRuntime, _PodLost

SPEC = build_spec("srv", CatalogEntry(image="x"), CatalogSource(path="c", line=1, directory="."), {}, {})


def _pod(state: dict[str, Any], phase: str = "Pending") -> dict[str, Any]:
    return {
        "metadata": {"name": "p1"},
        "status": {"phase": phase, "containerStatuses": [{"name": "server", "state": state}]},
    }


def test_running_container_is_ready() -> None:
    assert KubernetesRuntime._ready_or_raise(SPEC, _pod({"running": {}}, "Running"))
    assert not KubernetesRuntime._ready_or_raise(SPEC, _pod({"waiting": {"reason": "ContainerCreating"}}))


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({"waiting": {"reason": "ErrImageNeverPull", "message": "image not present"}}, "ErrImageNeverPull"),
        ({"waiting": {"reason": "CreateContainerConfigError", "message": 'secret "s" not found'}}, 'secret "s"'),
        ({"terminated": {"reason": "Error", "exitCode": 3}}, "exit code 3"),
    ],
)
def test_fatal_states_fail_naming_the_server(state: dict[str, Any], words: str) -> None:
    with pytest.raises(ServerUnavailableError) as caught:
        KubernetesRuntime._ready_or_raise(SPEC, _pod(state))
    assert "server 'srv'" in str(caught.value)
    assert words in str(caught.value)


def test_a_pod_lost_before_it_ran_may_be_replaced_but_a_failing_one_may_not() -> None:
    evicted = _pod({}, "Failed")
    evicted["status"]["reason"] = "Evicted"
    leaving = _pod({"waiting": {"reason": "ContainerCreating"}})
    leaving["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    for lost in (evicted, leaving):
        with pytest.raises(_PodLost):
            KubernetesRuntime._ready_or_raise(SPEC, lost)
    crashed = _pod({"terminated": {"reason": "Error", "exitCode": 1}}, "Failed")
    with pytest.raises(ServerUnavailableError):  # the server itself failed: another Pod would fail the same way
        KubernetesRuntime._ready_or_raise(SPEC, crashed)


def test_container_state_reads_the_server_container() -> None:
    assert container_state({"status": {}}) == ("", "", "")
    assert container_state(_pod({"terminated": {"reason": "Completed", "exitCode": 0}}))[1] == "Completed (exit code 0)"


def test_paths_and_errors() -> None:
    assert path_for("v1", "pods", "ns", "p") == "/api/v1/namespaces/ns/pods/p"
    assert path_for("batch/v1", "jobs", "ns") == "/apis/batch/v1/namespaces/ns/jobs"
    assert path_for("kubemcp.dev/v1alpha1", "mcpservers") == "/apis/kubemcp.dev/v1alpha1/mcpservers"
    assert isinstance(_error(404, '{"reason": "NotFound", "message": "gone"}'), NotFoundError)
    assert isinstance(_error(409, "{}"), ConflictError)
    assert isinstance(_error(403, "not json"), ForbiddenError)
    generic = _error(500, '{"message": "boom"}')
    assert type(generic) is KubeApiError
    assert "boom" in str(generic)
