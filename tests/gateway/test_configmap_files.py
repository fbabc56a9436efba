"""An MCPGateway's ConfigMap as the gateway's files, its optional authorization policy included."""

from __future__ import annotations

from pathlib import Path

import pytest
from controller.fakekube import FakeKube
from kubemcp.files.authz_policy import load_policy
from kubemcp.gateway.configmap_files import ConfigMapFiles
from kubemcp.kube.client import path_for

pytestmark = pytest.mark.anyio

POLICY = "rules:\n  - principals: [token:alice]\n    allow: ['dice:*']\n"


async def test_authz_yaml_is_the_gateway_policy_and_its_absence_allows_everything(tmp_path: Path) -> None:
    kube = FakeKube()
    where = path_for("v1", "configmaps", "ns", "gw")
    kube.put(where, {"metadata": {"name": "gw"}, "data": {"authz.yaml": POLICY}})
    files = ConfigMapFiles(kube, "ns", "gw", tmp_path)
    assert await files.sync()
    assert files.authz.read_text() == POLICY
    assert load_policy(files.authz).rules[0].allow == ["dice:*"]
    kube.put(where, {"metadata": {"name": "gw"}, "data": {}})  # the MCPGateway no longer sets a policy
    assert await files.sync()
    policy = load_policy(files.authz)
    assert policy.default == "allow"
    assert policy.rules == []
