"""crds/ is generated from the models, and the chart carries the same files: neither may drift."""

from __future__ import annotations

import pytest
from crd.schemas import CRDS
from kubemcp.crd import generate
from kubemcp.crd.definitions import DEFINITIONS
from support import REPO


@pytest.mark.parametrize("folder", [CRDS, REPO / "charts" / "kubemcp" / "crds"], ids=["crds", "chart"])
def test_the_crd_files_are_what_the_models_generate(folder: object) -> None:
    assert generate.main([str(folder), "--check"]) == 0, (
        "run: python -m kubemcp.crd.generate crds && scripts/sync-crds.sh"
    )


def test_every_file_in_crds_is_generated() -> None:
    assert sorted(path.name for path in CRDS.glob("*.yaml")) == sorted(f"{d.name}.yaml" for d in DEFINITIONS)


def test_a_bound_changed_in_a_model_changes_the_schema() -> None:
    """The generator reads the models: the warm pool's bound comes from the shared field type."""
    server = next(d for d in DEFINITIONS if d.kind == "MCPServer")
    schema = generate.manifest(server)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    from kubemcp.model.fields import WARM_POOL_MAX

    assert schema["properties"]["spec"]["properties"]["warmPool"]["maximum"] == WARM_POOL_MAX
