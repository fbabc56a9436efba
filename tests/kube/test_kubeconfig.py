"""Loading a kubeconfig: a user given by a bearer token (a ServiceAccount's, say) authenticates with it."""

from __future__ import annotations

from pathlib import Path

from kubemcp.kube.config import load_config

TOKEN = "eyJhbGciOiJSUzI1NiJ9.sample-token"  # the token's shape only: nothing checks it here


def test_a_token_user_authenticates_with_its_token(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}
users:
- name: robot
  user: {{token: {TOKEN}}}
contexts:
- name: c
  context: {{cluster: c, user: robot, namespace: team}}
current-context: c
""")
    config = load_config(str(path))
    assert config.bearer() == TOKEN
    assert config.namespace == "team"
    assert config.server == "https://127.0.0.1:6443"
