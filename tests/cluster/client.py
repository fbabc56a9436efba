"""The host's handle on a running cluster: kubectl, helm, TLS and minimal API calls."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import settings as S
from .common import ClusterError
from .state import containerd_socket, pki_dir

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


@dataclass
class Cluster:
    """A running cluster, as seen from the host."""

    kubeconfig: Path
    server: str
    port: int
    state: Path
    reused: bool = False  # True when up() found it already running
    nodes: tuple[str, ...] = (S.NODE_NAME,)  # node names, node 1 (the control plane's) first

    @property
    def kubectl_path(self) -> Path:
        return S.binary("kubectl")

    @property
    def helm_path(self) -> Path:
        return S.helm_path()

    @property
    def containerd_socket(self) -> Path:
        """Node 1's containerd (each node has its own: see harness.nodes())."""
        return containerd_socket()

    @property
    def ca_file(self) -> Path:
        return pki_dir() / "ca.crt"

    def env(self) -> dict[str, str]:
        """Environment for child processes (kubectl, helm, the gateway) to use this cluster."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def kubectl(
        self,
        *args: str,
        input: str | bytes | None = None,
        check: bool = True,
        timeout: float = 120,
        namespace: str | None = None,
    ) -> subprocess.CompletedProcess[Any]:
        """Run kubectl against the cluster; returns the CompletedProcess (text output)."""
        argv = [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig)]
        if namespace:
            argv += ["--namespace", namespace]
        argv += list(args)
        text = not isinstance(input, bytes)
        res = subprocess.run(argv, input=input, capture_output=True, text=text, timeout=timeout)
        if check and res.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [str(self.helm_path), "--kubeconfig", str(self.kubeconfig), *args]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise ClusterError(f"helm {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def api_client(self) -> ApiClient:
        """A kubernetes-python ``ApiClient`` with the admin credentials."""
        from kubernetes import client

        cfg = client.Configuration()
        cfg.host = self.server
        cfg.ssl_ca_cert = str(pki_dir() / "ca.crt")
        cfg.cert_file = str(pki_dir() / "admin.crt")
        cfg.key_file = str(pki_dir() / "admin.key")
        return client.ApiClient(cfg)

    def ssl_context(self, user: str = "admin") -> ssl.SSLContext:
        """TLS context trusting the cluster CA, with a client certificate (default: admin)."""
        return ssl_context(user)

    def user_kubeconfig(self, name: str, token: str, namespace: str = "default") -> Path:
        """Write a kubeconfig that authenticates with a bearer token (e.g. a service account's)."""
        path = S.STATE / "kubeconfigs" / f"token-{name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        ca = (pki_dir() / "ca.crt").read_bytes()
        path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: kubemcp
  cluster:
    server: {self.server}
    certificate-authority-data: {base64.b64encode(ca).decode()}
users:
- name: {name}
  user:
    token: {token}
contexts:
- name: kubemcp
  context: {{cluster: kubemcp, user: {name}, namespace: {namespace}}}
current-context: kubemcp
""")
        os.chmod(path, 0o600)
        return path

    def request(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, timeout: float = 10
    ) -> tuple[int, Any]:
        """Minimal API call (admin cert, or a bearer token); returns (status, decoded JSON)."""
        return api(self.port, method, path, body, token=token, timeout=timeout)


def ssl_context(user: str = "admin") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki_dir() / "ca.crt"))
    if user:
        ctx.load_cert_chain(str(pki_dir() / f"{user}.crt"), str(pki_dir() / f"{user}.key"))
    return ctx


def api(
    port: int, method: str, path: str, body: Any = None, *, token: str | None = None, timeout: float = 10
) -> tuple[int, Any]:
    """One API call through the host's forwarder; returns (status, decoded JSON or text)."""
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", data=data, method=method, headers=headers)
    ctx = ssl_context("" if token else "admin")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")
