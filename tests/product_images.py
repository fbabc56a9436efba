"""The project's own images for cluster tests: kubemcp, the example servers and the test probe.

Built with the test cluster's buildah tooling on its locally made base image; the wheelhouse the
kubemcp Dockerfile installs from is rebuilt only when the package sources change.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from cluster import images

REPO = Path(__file__).resolve().parent.parent
WHEELS = REPO / "build" / "wheels"
KUBEMCP = "kubemcp/kubemcp:dev"
PROBE = "kubemcp/test-probe:dev"
DICE = "kubemcp/example-dice:latest"
NOTES = "kubemcp/example-notes:latest"


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([REPO / "pyproject.toml", *(REPO / "operator").rglob("*.py")]):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def wheelhouse() -> Path:
    stamp = WHEELS / ".sources"
    digest = _sources_digest()
    if stamp.is_file() and stamp.read_text() == digest:
        return WHEELS
    shutil.rmtree(WHEELS, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(WHEELS), str(REPO)],
        check=True,
        timeout=900,
    )
    stamp.write_text(digest)
    return WHEELS


def build_kubemcp() -> str:
    wheelhouse()
    ref = images.build_and_load(REPO, "Dockerfile", KUBEMCP)
    # Each source change makes new layers; drop the untagged ones so the build cache does not fill the
    # disk (holding the store: another checkout's build must not lose its layers mid-way).
    with images.exclusive():
        images.buildah("rmi", "--prune", check=False)
    return ref


def build_probe() -> str:
    return images.build_and_load(REPO / "tests" / "peers", "Dockerfile", PROBE)


def build_examples() -> dict[str, str]:
    built = {}
    for name, tag in (("dice", DICE), ("notes", NOTES)):
        folder = REPO / "examples" / name
        if (folder / "Dockerfile").is_file():
            built[name] = images.build_and_load(folder, "Dockerfile", tag)
    return built
