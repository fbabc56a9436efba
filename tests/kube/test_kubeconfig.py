"""Loading a kubeconfig: a user given by a bearer token (a ServiceAccount's, say) authenticates with it."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from kubemcp.kube.config import load_config

TOKEN = "eyJhbGciOiJSUzI1NiJ9.sample-token"  # the token's shape only: nothing checks it here


def _ca(tmp_path: Path) -> bytes:
    key, cert = tmp_path / "ca.key", tmp_path / "ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=test-ca"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert.read_bytes()


def test_a_token_user_authenticates_with_its_token(tmp_path: Path) -> None:
    ca = base64.b64encode(_ca(tmp_path)).decode()
    path = tmp_path / "kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "https://127.0.0.1:6443", certificate-authority-data: {ca}}}
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
