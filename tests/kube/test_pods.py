"""Server Pod and Job manifests: restricted security, secrets by reference only, limits, labels."""

from __future__ import annotations

from typing import Any

import pytest
from kubemcp.errors import ServerUnavailableError
from kubemcp.kube.pods import LABEL_DIGEST, LABEL_ROLE, LABEL_SERVER, server_job, server_pod
from kubemcp.model.entry import CatalogEntry, CatalogSource
from kubemcp.model.spec import ServerSpec, build_spec

SOURCE = CatalogSource(path="c.yaml", line=1, directory=".")


def _spec(**entry: Any) -> ServerSpec:
    values: dict[str, Any] = {
        "image": "kubemcp/example-notes:latest",
        "command": ["--db", "{{notes.db}}"],
        "env": [{"name": "MODE", "value": "{{notes.mode}}"}],
        "secrets": [{"name": "notes.api_key", "env": "NOTES_API_KEY"}],
        "resources": {"limits": {"memory": "128Mi", "cpu": "0.5"}},
        "kubernetes": {"secretName": "team-secrets", "deadlineSeconds": 90},
    }
    values.update(entry)
    return build_spec(
        "notes", CatalogEntry.model_validate(values), SOURCE, {"db": "/tmp/n.db", "mode": "fast"}, {"x": "local-value"}
    )


def test_pod_is_restricted_and_references_secrets() -> None:
    pod = server_pod(_spec(), "call", gateway="gw")
    spec = pod["spec"]
    container = spec["containers"][0]
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 90
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    assert container["stdin"] is True
    assert container["stdinOnce"] is True
    assert container["args"] == ["--db", "/tmp/n.db"]
    assert {"name": "MODE", "value": "fast"} in container["env"]
    assert {
        "name": "NOTES_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "team-secrets", "key": "notes.api_key"}},
    } in container["env"]
    assert "local-value" not in str(pod)
    assert container["resources"]["limits"] == {"memory": "128Mi", "cpu": "0.5"}
    labels = pod["metadata"]["labels"]
    assert labels[LABEL_SERVER] == "notes"
    assert labels[LABEL_ROLE] == "call"
    assert labels[LABEL_DIGEST] == _spec().digest


def test_job_cleans_itself_up() -> None:
    job = server_job(_spec())
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert job["spec"]["activeDeadlineSeconds"] == 90
    assert job["spec"]["template"]["spec"]["containers"][0]["stdinOnce"] is True


def test_entries_kubernetes_cannot_run_fail_with_the_reason() -> None:
    with pytest.raises(ServerUnavailableError, match="no 'image'"):
        server_pod(_spec(image=None, process={"command": ["x"]}), "call")
    with pytest.raises(ServerUnavailableError, match="no Kubernetes Secret is named"):
        server_pod(_spec(kubernetes={}), "call")


def test_owner_and_pull_policy() -> None:
    owner = {"apiVersion": "v1", "kind": "Pod", "name": "gw-1", "uid": "u"}
    pod = server_pod(_spec(kubernetes={"secretName": "s", "imagePullPolicy": "Never"}), "pool", owner=owner)
    assert pod["metadata"]["ownerReferences"] == [owner]
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def test_only_per_call_pods_get_a_deadline() -> None:
    pod = server_pod(_spec(), "resident", deadline=False)
    assert "activeDeadlineSeconds" not in pod["spec"]
    assert server_pod(_spec(), "call", deadline_seconds=30)["spec"]["activeDeadlineSeconds"] == 30


def test_docker_fields_in_a_pod_mounts_user_hosts_and_variables() -> None:
    spec = _spec(
        command=["--token=$NOTES_API_KEY", "--mode", "{{notes.mode}}", "literal $(kept)"],
        env=[
            {"name": "AUTH", "value": "Bearer ${NOTES_API_KEY}"},
            {"name": "UNSET", "value": "{{notes.nothing}}"},
            {"name": "UNKNOWN", "value": "x$NOT_DEFINED"},
        ],
        user="2000:3000",
        extraHosts=["db.internal:10.0.0.9", "cache.internal:10.0.0.9"],
        mounts=[
            {"name": "workspace", "mountPath": "/workspace", "persistentVolumeClaim": {"claimName": "ws"}},
            {"name": "settings", "mountPath": "/etc/app", "configMap": {"name": "app-settings"}},
            {"name": "keys", "mountPath": "/keys", "secret": {"secretName": "app-keys"}},
            {"name": "scratch", "mountPath": "/scratch", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
    )
    pod = server_pod(spec, "call")["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["--token=$(NOTES_API_KEY)", "--mode", "fast", "literal $$(kept)"]
    env = container["env"]
    assert env[0]["name"] == "NOTES_API_KEY"  # secrets first, so env values may refer to them
    assert {"name": "AUTH", "value": "Bearer $(NOTES_API_KEY)"} in env
    assert {"name": "UNKNOWN", "value": "x"} in env
    assert "UNSET" not in {var["name"] for var in env}
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (2000, 3000)
    assert pod["hostAliases"] == [{"ip": "10.0.0.9", "hostnames": ["db.internal", "cache.internal"]}]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["workspace"]["persistentVolumeClaim"] == {"claimName": "ws"}
    assert volumes["settings"]["configMap"] == {"name": "app-settings"}
    assert volumes["keys"]["secret"] == {"secretName": "app-keys"}
    assert volumes["scratch"]["emptyDir"] == {"sizeLimit": "1Gi"}
    assert not any("hostPath" in volume for volume in pod["volumes"])
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    assert mounts["settings"]["readOnly"] is True
    assert "readOnly" not in mounts["workspace"]


@pytest.mark.parametrize(("user", "words"), [("app", r"not uid\[:gid\]"), ("0:0", "never run as root")])
def test_a_user_a_pod_cannot_take_fails_that_server(user: str, words: str) -> None:
    with pytest.raises(ServerUnavailableError, match=words):
        server_pod(_spec(user=user), "call")


def test_docker_volumes_map_to_claims_and_empty_dirs_and_host_paths_fail_the_server() -> None:
    pod = server_pod(_spec(volumes=["data:/data:ro", "/cache"]), "call")["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["data-0"]["persistentVolumeClaim"] == {"claimName": "data", "readOnly": True}
    assert volumes["anonymous-1"]["emptyDir"] == {}
    with pytest.raises(ServerUnavailableError, match=r"volumes\[0\]: .*no hostPath"):
        server_pod(_spec(volumes=["/home/me:/work"]), "call")
