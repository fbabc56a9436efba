"""Field types shared by the catalog entry model and the custom resources' models.

Each type carries its bounds once; the CRD schemas are generated from the models that use them,
so a bound changed here changes the file format, the operator's checks and the API server's
validation together.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from kubemcp.model.names import ENV_NAME_PATTERN, SECRET_NAME_PATTERN, SERVER_NAME_PATTERN

PullPolicy = Literal["Always", "IfNotPresent", "Never"]
PerCallKind = Literal["Pod", "Job"]
LifecycleName = Literal["perCall", "perSession", "longLived"]

ServerName = Annotated[str, Field(max_length=63, pattern=SERVER_NAME_PATTERN)]
EnvName = Annotated[str, Field(min_length=1, max_length=256, pattern=ENV_NAME_PATTERN)]
SecretName = Annotated[str, Field(min_length=1, max_length=253, pattern=SECRET_NAME_PATTERN)]

WARM_POOL_MAX = 20
WarmPool = Annotated[int, Field(ge=0, le=WARM_POOL_MAX, description="Server Pods kept started ahead of calls.")]
WarmCount = Annotated[int, Field(ge=0, le=WARM_POOL_MAX)]
DEFAULT_WARM_MAX = 4  # `warm:` without `max`: grow up to this many (or `min`, if larger) under load
TimeOfDay = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, UTC.")]
DEFAULT_DEADLINE_SECONDS = 600
DeadlineSeconds = Annotated[
    int, Field(ge=10, le=86_400, description="Seconds a per-call Pod may run (its activeDeadlineSeconds).")
]
IdleTimeoutSeconds = Annotated[
    int, Field(ge=1, le=86_400, description="Seconds without calls before a resident instance stops.")
]
RunAsUser = Annotated[int, Field(ge=1, le=2_147_483_647)]
MAX_INSTANCES_MAX = 10_000
MaxInstances = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_INSTANCES_MAX,
        description="Per-call instances of the server that may run at once; further calls wait in the gateway's queue.",
    ),
]
DEFAULT_PORT = 8811  # the gateway's HTTP port, locally and in the cluster
