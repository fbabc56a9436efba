"""The repository's CustomResourceDefinitions, applied to a running cluster."""

from __future__ import annotations

from pathlib import Path

from . import settings as S
from .client import Cluster


def apply_crds(cluster: Cluster, crd_dir: Path | None = None, timeout: float = 60) -> list[str]:
    """Apply every CRD manifest in ``crds/`` (if any) and wait until they are Established."""
    crd_dir = crd_dir or (S.REPO / "crds")
    files = sorted(p for p in crd_dir.glob("*.y*ml") if p.is_file()) if crd_dir.is_dir() else []
    if not files:
        return []
    names: list[str] = []
    for f in files:
        r = cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(f), "-o", "name")
        names += [n for n in r.stdout.split() if n.startswith("customresourcedefinition")]
    if names:
        cluster.kubectl(
            "wait", "--for=condition=Established", f"--timeout={int(timeout)}s", *names, timeout=timeout + 10
        )
    return names
