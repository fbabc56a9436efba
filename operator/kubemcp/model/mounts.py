"""Volumes a server container mounts, and how Docker's `volumes` strings map to them.

kubemcp's `mounts` field (on catalog entries and MCPServers) names Kubernetes volume sources a
Pod may use without touching its node: a PersistentVolumeClaim, a ConfigMap, a Secret or an
emptyDir. There is no hostPath: a gateway never gives a server Pod the node's file system.

Docker's `volumes` (`source:target[:mode]`) map as follows (`from_docker_volume`):

| Docker volume                      | kubemcp mount                                          |
|------------------------------------|--------------------------------------------------------|
| `name:/target[:ro]` (named volume) | the PersistentVolumeClaim `name` (made a DNS label)    |
| `/target` (anonymous volume)       | an emptyDir, gone with the Pod                          |
| `/host/path:/target`, `~/x:/t`     | refused: a host path cannot reach a cluster Pod        |
| a template (`{{x.paths\\|volume}}`) | refused: its values are host paths from config.yaml   |

The local Docker engine runtime uses `volumes` as Docker does and maps `mounts` back: a claim to
the named volume of that name, an emptyDir to an anonymous volume.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MOUNT_PATH_PATTERN = r"^/[^:]*$"
RESERVED_PATHS = ("/tmp",)  # noqa: S108 - the Pod's own emptyDir, always mounted

VolumeName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]

ONE_SOURCE_RULE = (
    "[has(self.persistentVolumeClaim), has(self.configMap), has(self.secret), has(self.emptyDir)]"
    ".filter(x, x).size() == 1"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ClaimSource(_Strict):
    claim_name: ObjectName = Field(alias="claimName")


class ConfigMapSource(_Strict):
    name: ObjectName


class SecretSource(_Strict):
    secret_name: ObjectName = Field(alias="secretName")


class EmptyDirSource(_Strict):
    medium: Literal["", "Memory"] | None = None
    size_limit: Annotated[str, Field(max_length=32)] | None = Field(default=None, alias="sizeLimit")


class Mount(_Strict):
    """One volume mounted into the server's container: exactly one source."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": ONE_SOURCE_RULE, "message": "set exactly one of persistentVolumeClaim, configMap, secret, "
                 "emptyDir"},
                {"rule": "self.mountPath != '/tmp'", "message": "/tmp is the server's own scratch space"},  # noqa: S108
            ]
        },
    )  # fmt: skip

    name: VolumeName = Field(description="The volume's name in the Pod (a DNS label).")
    mount_path: Annotated[str, Field(min_length=2, max_length=1024, pattern=MOUNT_PATH_PATTERN)] = Field(
        alias="mountPath", description="Where the container sees it (an absolute path)."
    )
    read_only: bool = Field(default=False, alias="readOnly")
    sub_path: Annotated[str, Field(max_length=1024, pattern=r"^[^/].*$")] | None = Field(default=None, alias="subPath")
    persistent_volume_claim: ClaimSource | None = Field(default=None, alias="persistentVolumeClaim")
    config_map: ConfigMapSource | None = Field(default=None, alias="configMap")
    secret: SecretSource | None = None
    empty_dir: EmptyDirSource | None = Field(default=None, alias="emptyDir")

    @model_validator(mode="after")
    def _one_source(self) -> Mount:
        sources = [self.persistent_volume_claim, self.config_map, self.secret, self.empty_dir]
        if sum(source is not None for source in sources) != 1:
            raise ValueError("set exactly one of persistentVolumeClaim, configMap, secret, emptyDir")
        if self.mount_path.rstrip("/") in RESERVED_PATHS:
            raise ValueError(f"{self.mount_path} is the server's own scratch space")
        return self

    def volume(self) -> dict[str, Any]:
        """The Pod's `volumes` item."""
        source: dict[str, Any]
        if self.persistent_volume_claim is not None:
            source = {"persistentVolumeClaim": {"claimName": self.persistent_volume_claim.claim_name}}
            if self.read_only:
                source["persistentVolumeClaim"]["readOnly"] = True
        elif self.config_map is not None:
            source = {"configMap": {"name": self.config_map.name}}
        elif self.secret is not None:
            source = {"secret": {"secretName": self.secret.secret_name}}
        else:
            assert self.empty_dir is not None
            source = {"emptyDir": self.empty_dir.model_dump(mode="json", by_alias=True, exclude_none=True)}
        return {"name": self.name, **source}

    def volume_mount(self) -> dict[str, Any]:
        """The container's `volumeMounts` item."""
        mount: dict[str, Any] = {"name": self.name, "mountPath": self.mount_path}
        if self.read_only or self.config_map is not None or self.secret is not None:
            mount["readOnly"] = True
        if self.sub_path:
            mount["subPath"] = self.sub_path
        return mount


_NAMED_VOLUME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def split_volume(text: str) -> tuple[str, str, str]:
    """`source:target[:mode]` -> (source, target, mode); a single path is ('', target, '')."""
    parts = text.strip().split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) > 3:
        raise ValueError(f"volume {text!r} is not source:target[:mode]")
    source, target = parts[0].strip(), parts[1].strip()
    mode = parts[2].strip() if len(parts) == 3 else ""
    if not source or not target:
        raise ValueError(f"volume {text!r} needs both a source and a target")
    return source, target, mode


def read_only_mode(mode: str) -> bool:
    options = [option.strip().lower() for option in mode.split(",") if option.strip()]
    return "rw" not in options and bool({"ro", "readonly"} & set(options))


def is_named_volume(source: str) -> bool:
    return bool(_NAMED_VOLUME.match(source))


def dns_name(text: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return cleaned[:63].strip("-") or "volume"


def from_docker_volume(text: str, index: int) -> Mount:
    """The cluster form of one Docker volume string; a ValueError says why there is none."""
    if "{{" in text:
        raise ValueError(
            f"volume {text!r} mounts host paths from config.yaml, which a cluster Pod cannot reach (no hostPath); "
            "give the MCPServer a PersistentVolumeClaim under 'mounts' instead"
        )
    source, target, mode = split_volume(text)
    if not target.startswith("/"):
        raise ValueError(f"volume {text!r}: the target {target!r} is not an absolute path")
    if not source:
        return Mount.model_validate({"name": f"anonymous-{index}", "mountPath": target, "emptyDir": {}})
    if not is_named_volume(source):
        raise ValueError(
            f"volume {text!r} mounts the host path {source!r}, which a cluster Pod cannot reach (no hostPath); "
            "give the MCPServer a PersistentVolumeClaim under 'mounts' instead"
        )
    return Mount.model_validate(
        {
            "name": dns_name(f"{source}-{index}"),
            "mountPath": target,
            "readOnly": read_only_mode(mode),
            "persistentVolumeClaim": {"claimName": dns_name(source)},
        }
    )
