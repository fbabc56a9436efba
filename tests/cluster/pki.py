"""Certificates and kubeconfigs for the cluster, made with the openssl CLI."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from . import settings
from .topology import Node

OPENSSL = "openssl"


def _run(*args: str) -> None:
    subprocess.run([OPENSSL, *args], check=True, capture_output=True)


def _key(path: Path) -> None:
    _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    os.chmod(path, 0o600)


def _subject(cn: str, orgs: tuple[str, ...]) -> str:
    return "".join(f"/O={o}" for o in orgs) + f"/CN={cn}"


def _sign(
    pki: Path,
    name: str,
    cn: str,
    *,
    orgs: tuple[str, ...] = (),
    server: bool = False,
    client: bool = True,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> None:
    key, csr, crt, ext = (pki / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
    _key(key)
    _run("req", "-new", "-key", str(key), "-subj", _subject(cn, orgs), "-out", str(csr))
    usages = [u for u, on in (("serverAuth", server), ("clientAuth", client)) if on]
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=" + ",".join(usages),
    ]
    sans = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    ext.write_text("\n".join(lines) + "\n")
    _run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(pki / "ca.crt"),
        "-CAkey",
        str(pki / "ca.key"),
        "-set_serial",
        "0x" + os.urandom(16).hex(),
        "-days",
        "3650",
        "-sha256",
        "-extfile",
        str(ext),
        "-out",
        str(crt),
    )
    csr.unlink()
    ext.unlink()


# name -> (common name, organisations) of the client certificates.
CLIENTS = {
    "admin": ("kubemcp-admin", ("system:masters",)),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ("system:masters",)),
    "controller-manager": ("system:kube-controller-manager", ()),
    "scheduler": ("system:kube-scheduler", ()),
    "kube-proxy": ("system:kube-proxy", ()),
    # The NetworkPolicy agent on every node; RBAC grants it reading (policy_agent.py).
    "kube-router": ("kubemcp:kube-router", ()),
}


def generate(pki: Path, nodes: Sequence[Node] = (Node(1),)) -> None:
    """Create a fresh CA, serving and client certificates and the service-account key."""
    pki.mkdir(parents=True, exist_ok=True)
    os.chmod(pki, 0o700)
    _key(pki / "ca.key")
    _run(
        "req",
        "-x509",
        "-new",
        "-key",
        str(pki / "ca.key"),
        "-subj",
        "/CN=kubemcp-cluster-ca",
        "-days",
        "3650",
        "-sha256",
        "-out",
        str(pki / "ca.crt"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )
    _sign(
        pki,
        "apiserver",
        "kube-apiserver",
        server=True,
        client=False,
        dns=(
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
            settings.NODE_NAME,
        ),
        ips=("127.0.0.1", "::1", settings.NODE_IP, settings.KUBERNETES_SERVICE_IP),
    )
    for name, (cn, orgs) in CLIENTS.items():
        _sign(pki, name, cn, orgs=orgs)
    for node in nodes:
        node_certs(pki, node)
    _key(pki / "sa.key")
    _run("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def node_certs(pki: Path, node: Node) -> None:
    """A node's kubelet certificates: serving (its name and address) and client (``system:node:<name>``)."""
    _sign(pki, node.serving_cert, node.name, server=True, client=False, dns=(node.name,), ips=(node.ip,))
    _sign(pki, node.cert, f"system:node:{node.name}", orgs=("system:nodes",))


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def kubeconfig(path: Path, pki: Path, user: str, server: str, namespace: str = "default") -> Path:
    """Write a self-contained kubeconfig for the client certificate ``user``."""
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: kubemcp
  cluster:
    server: {server}
    certificate-authority-data: {_b64(pki / "ca.crt")}
users:
- name: {user}
  user:
    client-certificate-data: {_b64(pki / f"{user}.crt")}
    client-key-data: {_b64(pki / f"{user}.key")}
contexts:
- name: kubemcp
  context:
    cluster: kubemcp
    user: {user}
    namespace: {namespace}
current-context: kubemcp
"""
    path.write_text(text)
    os.chmod(path, 0o600)
    return path
