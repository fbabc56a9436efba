"""The gateway core: routes each client request to the backend server that can answer it."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp.shared.uri_template import UriTemplate
from mcp_types import SERVER_INFO_META_KEY

from kubemcp.backend.admission import Admission
from kubemcp.backend.hooks import CallHooks
from kubemcp.backend.offerings import Offerings, list_offerings
from kubemcp.backend.pool import BackendPool
from kubemcp.errors import KubemcpError, ServerError, ServerSaturatedError
from kubemcp.gateway.access import Access
from kubemcp.gateway.known_offerings import DiscoveryCache, from_catalog, from_recorded
from kubemcp.gateway.listing import Listing, build_listing
from kubemcp.gateway.served import load_served_set
from kubemcp.gateway.sessions import SessionNotifier
from kubemcp.gateway.settings import GatewaySettings
from kubemcp.model.runtime import Runtime
from kubemcp.model.spec import ServerSpec

logger = logging.getLogger(__name__)

DISCOVERY_RETRY_SECONDS = 30.0


def server_error(error: ServerError) -> MCPError:
    """A backend failure as the MCP error the client receives: it names the server (and says when the
    server or the gateway is saturated, so a client knows to try again later)."""
    data: dict[str, Any] = {"server": error.server}
    if isinstance(error, ServerSaturatedError):
        data["saturated"] = True
    return MCPError(types.INTERNAL_ERROR, str(error), data)


class Gateway:
    def __init__(self, settings: GatewaySettings, runtime: Runtime) -> None:
        self.settings = settings
        self.runtime = runtime
        admission = Admission(
            total=settings.max_instances,
            per_server=settings.max_instances_per_server,
            queue=settings.max_queued,
            wait=settings.queue_timeout,
        )
        self.pool = BackendPool(
            runtime, idle_timeout=settings.idle_timeout, call_timeout=settings.call_timeout, admission=admission
        )
        self.cache = DiscoveryCache(settings.cache_dir / "discovery" if settings.cache_dir else None)
        self.notifier = SessionNotifier()
        served = load_served_set(settings)
        self.specs = served.specs
        self.refused = served.refused
        self._locks: dict[str, anyio.Lock] = {}
        self._failed: dict[str, tuple[float, str]] = {}
        self._tool_filter = set(settings.tools) or None
        self._listings: dict[bool, Listing] = {}
        # Reloads after a file changed: applied (the served set changed), unchanged, refused (bad files).
        self.reloads = {"applied": 0, "unchanged": 0, "refused": 0}
        self.access = Access(settings)  # authentication, authorization, secret scanning

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Gateway]:
        async with self.pool.running(), anyio.create_task_group() as tg:
            self.pool.warm_up(list(self.specs.values()))
            if self.settings.watch:
                tg.start_soon(self._watch_files)
            try:
                yield self
            finally:
                self.notifier.close()
                tg.cancel_scope.cancel()

    # -- what is served ---------------------------------------------------------------------

    async def offerings(self, *, full: bool) -> dict[str, Offerings]:
        """Each served server's offerings, starting a server only when nothing is known of it.

        `full=False` is enough for tools: a catalog that lists tools answers without a start.
        """
        found: dict[str, Offerings | None] = dict.fromkeys(self.specs)

        async def one(name: str, spec: ServerSpec) -> None:
            found[name] = await self._offerings_of(spec, full=full)

        async with anyio.create_task_group() as tg:
            for name, spec in self.specs.items():
                tg.start_soon(one, name, spec)
        return {name: value for name, value in found.items() if value is not None}

    async def _offerings_of(self, spec: ServerSpec, *, full: bool) -> Offerings | None:
        cached = self.cache.get(spec) or from_recorded(spec)
        if cached is not None:
            return cached
        if not full and (declared := from_catalog(spec)) is not None:
            return declared
        failed = self._failed.get(spec.digest)
        if failed is not None and time.monotonic() - failed[0] < DISCOVERY_RETRY_SECONDS:
            return from_catalog(spec)
        async with self._locks.setdefault(spec.name, anyio.Lock()):
            cached = self.cache.get(spec)
            if cached is not None:
                return cached
            try:
                discovered = await self.pool.call(spec, list_offerings)
            except ServerError as exc:
                logger.error("%s", exc)
                self._failed[spec.digest] = (time.monotonic(), str(exc))
                return from_catalog(spec)
            if (declared := from_catalog(spec)) is not None:
                discovered.tools = _prefer_declared(declared.tools, discovered.tools)
            self.cache.put(spec, discovered)
            self._listings.clear()
            logger.info(
                "discovered %s: %d tools, %d prompts, %d resources",
                spec.name,
                len(discovered.tools),
                len(discovered.prompts),
                len(discovered.resources) + len(discovered.resource_templates),
            )
            return discovered

    async def listing(self, *, full: bool) -> Listing:
        """What the caller may see of the served view (everything for a trusted caller)."""
        return self.access.view(await self.served_listing(full=full))

    async def served_listing(self, *, full: bool) -> Listing:
        """The served view; kept until the served set or a server's known offerings change."""
        cached = self._listings.get(full)
        if cached is not None:
            return cached
        specs = self.specs
        found = await self.offerings(full=full)
        prefixes = {name: spec.entry.prefix for name, spec in specs.items() if spec.entry.prefix}
        listing = build_listing(
            found, prefix_all=self.settings.prefix_tools, tool_filter=self._tool_filter, prefixes=prefixes
        )
        complete = all(self._known(spec, full=full) for spec in specs.values())
        if specs is self.specs and complete:
            self._listings[full] = listing
        return listing

    def _known(self, spec: ServerSpec, *, full: bool) -> bool:
        """Whether a listing can be kept: every server's offerings came from somewhere lasting."""
        if self.cache.get(spec) is not None or from_recorded(spec) is not None:
            return True
        return not full and from_catalog(spec) is not None

    def cached_tool_schema(self, name: str) -> dict[str, Any] | None:
        """A served tool's input schema from the last listing, without awaiting anything."""
        listing = self._listings.get(False) or self._listings.get(True)
        if listing is None:
            return None
        for tool in listing.tools:
            if tool.name == name:
                return tool.input_schema
        return None

    # -- requests --------------------------------------------------------------------------

    def _spec(self, server: str) -> ServerSpec:
        return self.specs[server]

    async def call_tool(self, name: str, arguments: dict[str, Any] | None, hooks: CallHooks) -> types.CallToolResult:
        route = (await self.served_listing(full=False)).tool_routes.get(name)
        if route is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {name!r}")
        principal = self.access.admit("tool", name, route.server, route.name)
        arguments = self.access.screen_arguments("tool", name, arguments, principal)
        started = time.perf_counter()
        try:
            result = await self.pool.call(
                self._spec(route.server),
                lambda client: client.call_tool(route.name, arguments, progress_callback=hooks.on_progress),
                hooks,
            )
        except ServerError as exc:
            logger.warning("tool %s failed: %s", name, exc)
            raise server_error(exc) from exc
        result = self.access.screen_tool_result(name, _without_backend_identity(result), principal)
        if self.settings.log_calls:
            logger.info(
                "call %s -> %s/%s for %s in %.1f ms%s",
                name,
                route.server,
                route.name,
                principal,
                (time.perf_counter() - started) * 1000,
                " (error result)" if result.is_error else "",
            )
        return result

    async def get_prompt(self, name: str, arguments: dict[str, str] | None, hooks: CallHooks) -> types.GetPromptResult:
        route = (await self.served_listing(full=True)).prompt_routes.get(name)
        if route is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown prompt {name!r}")
        principal = self.access.admit("prompt", name, route.server, route.name)
        arguments = self.access.screen_arguments("prompt", name, arguments, principal)
        try:
            prompt = await self.pool.call(
                self._spec(route.server), lambda client: client.get_prompt(route.name, arguments), hooks
            )
        except ServerError as exc:
            raise server_error(exc) from exc
        return self.access.screen_result("prompt", name, _without_backend_identity(prompt), principal)

    async def read_resource(self, uri: str, hooks: CallHooks) -> types.ReadResourceResult:
        listing = await self.served_listing(full=True)
        server, name = listing.resource_routes.get(uri), uri
        if server is None:
            for template, owner in listing.template_routes:
                if UriTemplate.parse(template).match(uri) is not None:
                    server, name = owner, template
                    break
        if server is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown resource {uri!r}")
        principal = self.access.admit("resource", uri, server, name)
        try:
            read = await self.pool.call(self._spec(server), lambda client: client.read_resource(uri), hooks)
        except ServerError as exc:
            raise server_error(exc) from exc
        return self.access.screen_result("resource", uri, _without_backend_identity(read), principal)

    # -- reloading -------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Load the files again; on a change of the served set, notify every client. Bad files change nothing."""
        try:  # parsing a large catalog must not hold up the requests being served meanwhile
            served = await anyio.to_thread.run_sync(load_served_set, self.settings)
        except KubemcpError as exc:
            self.reloads["refused"] += 1
            logger.error("not reloading, the files have errors:\n%s", exc)
            return False
        specs = served.specs
        self.refused = served.refused
        before = {name: spec.digest for name, spec in self.specs.items()}
        after = {name: spec.digest for name, spec in specs.items()}
        self.specs = specs
        self._listings.clear()
        self.pool.warm_up(list(specs.values()))
        if before == after:
            self.reloads["unchanged"] += 1
            return False
        self.reloads["applied"] += 1
        logger.info("served servers changed: %s", ", ".join(specs) or "(none)")
        await self.notifier.lists_changed()
        return True

    def _stamp(self) -> tuple[tuple[str, int, int], ...]:
        stamps = []
        for path in self.settings.watched_files:
            try:
                stat = path.stat()
                stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
            except OSError:
                stamps.append((str(path), 0, 0))
        return tuple(stamps)

    async def _watch_files(self) -> None:
        stamp, access = self._stamp(), self.access.stamp()
        while True:
            await anyio.sleep(self.settings.watch_interval)
            current = self._stamp()
            if current != stamp:
                stamp = current
                try:
                    await self.reload()
                except Exception:  # whatever the files hold, the gateway keeps serving what it served
                    self.reloads["refused"] += 1
                    logger.exception("not reloading: unexpected error while loading the files")
            if (current_access := self.access.stamp()) != access:
                access = current_access
                try:
                    if self.access.reload():
                        await self.notifier.lists_changed()
                except Exception:  # a bad tokens or policy file: the current ones stay in force
                    logger.exception("not reloading the access files: unexpected error")


def _prefer_declared(declared: list[types.Tool], discovered: list[types.Tool]) -> list[types.Tool]:
    """A catalog's tool list decides which tools are served; the server's own definitions fill in detail."""
    by_name = {tool.name: tool for tool in discovered}
    return [by_name.get(tool.name, tool) for tool in declared]


ResultT = TypeVar("ResultT", bound=types.Result)


def _without_backend_identity(result: ResultT) -> ResultT:
    """Drop the backend's `serverInfo` stamp from a relayed result: the client's server is the gateway,
    and the SDK stamps the gateway's own identity only where no stamp is present."""
    if not result.meta or SERVER_INFO_META_KEY not in result.meta:
        return result
    meta = {key: value for key, value in result.meta.items() if key != SERVER_INFO_META_KEY}
    return result.model_copy(update={"meta": meta or None})
