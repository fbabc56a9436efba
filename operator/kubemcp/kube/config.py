"""Where the Kubernetes API is and how to authenticate: in-cluster, or a kubeconfig file."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from kubemcp.errors import SettingsError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class KubeConfig:
    server: str
    ssl_context: ssl.SSLContext
    token_file: Path | None = None
    token: str | None = None
    namespace: str = "default"

    def bearer(self) -> str | None:
        """The current token; a projected service-account token is re-read as it rotates."""
        if self.token_file is not None:
            return self.token_file.read_text().strip()
        return self.token


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT / "token").is_file()


def load_config(kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None) -> KubeConfig:
    """In-cluster service account when running in a Pod (and no kubeconfig is named), else a kubeconfig."""
    if kubeconfig is None and not os.environ.get("KUBECONFIG") and in_cluster():
        host = os.environ["KUBERNETES_SERVICE_HOST"]
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        ctx = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
        own_namespace = (SERVICE_ACCOUNT / "namespace").read_text().strip()
        server_host = f"[{host}]" if ":" in host else host
        return KubeConfig(
            server=f"https://{server_host}:{port}",
            ssl_context=ctx,
            token_file=SERVICE_ACCOUNT / "token",
            namespace=namespace or own_namespace,
        )
    return _from_kubeconfig(kubeconfig, context, namespace)


def _from_kubeconfig(path: str | None, context: str | None, namespace: str | None) -> KubeConfig:
    from kubernetes.client import Configuration
    from kubernetes.config import kube_config
    from kubernetes.config.config_exception import ConfigException

    configuration = Configuration()
    file = path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube" / "config")
    try:
        loader = kube_config._get_kube_config_loader(filename=file, active_context=context)  # type: ignore[no-untyped-call]
        loader.load_and_set(configuration)
        context_namespace = loader.current_context.get("context", {}).get("namespace")
    except (ConfigException, OSError) as exc:
        raise SettingsError(f"cannot load kubeconfig {file}: {exc}") from exc
    ctx = ssl.create_default_context(cafile=configuration.ssl_ca_cert) if configuration.ssl_ca_cert else None
    if ctx is None:
        ctx = ssl.create_default_context()
    if not configuration.verify_ssl:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if configuration.cert_file and configuration.key_file:
        ctx.load_cert_chain(configuration.cert_file, configuration.key_file)
    token = None
    keys = configuration.api_key or {}
    auth = keys.get("BearerToken") or keys.get("authorization")  # the key's name in newer and older clients
    if auth:
        token = auth.removeprefix("Bearer ").strip()
    return KubeConfig(
        server=configuration.host.rstrip("/"),
        ssl_context=ctx,
        token=token,
        namespace=namespace or context_namespace or "default",
    )
