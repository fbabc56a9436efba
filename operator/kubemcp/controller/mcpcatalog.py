"""Reconciling an MCPCatalog: validate every entry, report it, and reconcile the MCPServers that use it."""

from __future__ import annotations

import logging
from typing import Any

from kubemcp.controller import kinds
from kubemcp.controller.context import Controller
from kubemcp.controller.mcpserver import reconcile_server
from kubemcp.crd.conditions import Condition, merge_conditions
from kubemcp.crd.models import parse_entries
from kubemcp.kube.client import KubeApiError

logger = logging.getLogger(__name__)

Obj = dict[str, Any]


def validate_catalog(spec: Obj) -> tuple[int, list[str]]:
    """(number of entries, problems): the schema's checks plus what the gateway itself would reject."""
    valid, problems = parse_entries(spec)
    return len(valid) + len(problems), [f"{name}: {problem}" for name, problem in problems.items()]


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
