"""Reconciling an MCPCatalog: validate every entry, report it, and reconcile the MCPServers that use it."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from kubemcp.controller import kinds
from kubemcp.controller.context import Controller
from kubemcp.controller.mcpserver import reconcile_server
from kubemcp.crd.conditions import Condition, merge_conditions
from kubemcp.crd.models import MCPCatalogSpec
from kubemcp.kube.client import KubeApiError
from kubemcp.validation import one_line

logger = logging.getLogger(__name__)

Obj = dict[str, Any]


def validate_catalog(spec: Obj) -> tuple[int, list[str]]:
    """(number of entries, problems): the schema's checks plus what the gateway itself would reject."""
    try:
        parsed = MCPCatalogSpec.model_validate(spec)
    except ValidationError as exc:
        return len(spec.get("entries") or {}), [one_line(exc, root="spec")]
    problems = []
    for name, entry in sorted(parsed.entries.items()):
        try:
            entry.to_catalog_entry()
        except ValidationError as exc:
            problems.append(f"{name}: {one_line(exc, root='entry')}")
    return len(parsed.entries), problems


async def reconcile_catalog(ctl: Controller, namespace: str, name: str) -> None:
    async with ctl.lock(kinds.CATALOGS, namespace, name):
        obj = await ctl.get(kinds.CATALOGS, namespace, name)
        if obj is not None:
            count, problems = validate_catalog(obj.get("spec") or {})
            if problems:
                condition = Condition.false("Ready", "InvalidEntries", "; ".join(problems))
            else:
                condition = Condition.true("Ready", "Valid", f"{count} entr{'y' if count == 1 else 'ies'}")
            status: Obj = obj.get("status") or {}
            await ctl.reporter.status(
                kinds.CATALOGS,
                obj,
                {
                    "observedGeneration": kinds.generation_of(obj),
                    "entries": count,
                    "conditions": merge_conditions(status.get("conditions"), [condition], kinds.generation_of(obj)),
                },
            )
    await reconcile_users(ctl, namespace, name)


async def reconcile_users(ctl: Controller, namespace: str, catalog: str) -> None:
    """The MCPServers whose catalogRef names this catalog (after it changed, appeared or went away)."""
    try:
        servers = await ctl.list(kinds.SERVERS, namespace)
    except KubeApiError as exc:
        logger.warning("cannot list MCPServers in %s: %s", namespace, exc)
        return
    for server in servers:
        ref = (server.get("spec") or {}).get("catalogRef") or {}
        if ref.get("name") == catalog:
            try:
                await reconcile_server(ctl, namespace, kinds.name_of(server))
            except KubeApiError as exc:
                logger.warning("server %s/%s: %s (retried by the next pass)", namespace, kinds.name_of(server), exc)
