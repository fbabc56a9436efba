"""The gateway core: routes each client request to the backend server that can answer it."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp_types import SERVER_INFO_META_KEY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from kubemcp.backend.admission import Admission
from kubemcp.backend.hooks import CallHooks
from kubemcp.backend.offerings import Offerings, list_offerings
from kubemcp.backend.pool import BackendPool
from kubemcp.backend.subscriptions import NotSubscribable, Upstream
from kubemcp.errors import ServerError, ServerSaturatedError
from kubemcp.gateway.access import Access
from kubemcp.gateway.client_sessions import ClientSessionState
from kubemcp.gateway.exchanges import LocalExchanges
from kubemcp.gateway.file_watch import stamp
from kubemcp.gateway.interceptors import Interceptors
from kubemcp.gateway.known_offerings import DiscoveryCache, from_catalog, from_recorded
from kubemcp.gateway.listing import Listing, build_listing
from kubemcp.gateway.observe.audit import AuditLog
from kubemcp.gateway.observe.calls import CallObserver
from kubemcp.gateway.observe.recent import RecentCalls
from kubemcp.gateway.options import Effective, effective
from kubemcp.gateway.principal import current_principal
from kubemcp.gateway.reloading import apply_options, reload_files, watch_files
from kubemcp.gateway.resource_subscriptions import ResourceSubscriptions
from kubemcp.gateway.served import Served, load_served_set
from kubemcp.gateway.served_capabilities import ServedCapabilities, served_capabilities
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
    options: Effective  # the options in force (`reloading.apply_options`)

    def __init__(
        self,
        settings: GatewaySettings,
        runtime: Runtime,
        *,
        load: Callable[[GatewaySettings], Served] = load_served_set,
    ) -> None:
        self.settings = settings
        self.load_files = load  # reads every file (tests pass one that edits a file while it reads)
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
        self.exchanges = LocalExchanges()
        self.subscriptions = ResourceSubscriptions(self.notifier.bus)
        self.pool.on_resource_updated = self.subscriptions.updated
        self.tg: anyio.abc.TaskGroup | None = None
        self.loaded_stamp = stamp(settings.watched_files)  # the files as they were when last loaded
        served = load(settings)
        self.specs = served.specs
        self.refused = served.refused
        self._locks: dict[str, anyio.Lock] = {}
        self._failed: dict[str, tuple[float, str]] = {}
        self._listings: dict[bool, Listing] = {}
        # Reloads after a file changed: applied (the served set changed), unchanged, refused (bad files).
        self.reloads = {"applied": 0, "unchanged": 0, "refused": 0}
        self.access = Access(settings)  # authentication, authorization, secret scanning
        self.audit, self.recent, self.interceptors = AuditLog(), RecentCalls(), Interceptors()
        self.observer = CallObserver(self.audit, self.recent)
        apply_options(self, effective(settings))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Gateway]:
        async with self.pool.running(), anyio.create_task_group() as tg:
            self.tg = tg
            self.subscriptions.upstream = Upstream(self.pool, tg)
            self.pool.warm_up(list(self.specs.values()))
            if self.settings.watch:
                tg.start_soon(watch_files, self)
            tg.start_soon(self.exchanges.expire_forever)
            try:
                yield self
            finally:
                self.tg = None
                self.notifier.close()
                self.audit.close()
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
            found, prefix_all=self.options.prefix_tools, tool_filter=set(self.options.tools) or None, prefixes=prefixes
        )
        complete = all(self._known(spec, full=full) for spec in specs.values())
        if specs is self.specs and complete:
            self._listings[full] = listing
        return listing

    def kept_listing(self, *, full: bool = False) -> Listing | None:
        """The served listing (tools only unless `full`) if it is kept (nothing to await), else None."""
        return self._listings.get(full)

    def kept_tools_view(self) -> Listing | None:
        """The caller's view of the served tools listing if that listing is kept (nothing to await), else None."""
        served = self.kept_listing()
        return self.access.view(served) if served is not None else None

    def _known(self, spec: ServerSpec, *, full: bool) -> bool:
        """Whether a listing can be kept: every server's offerings came from somewhere lasting."""
        if self.cache.get(spec) is not None or from_recorded(spec) is not None:
            return True
        return not full and from_catalog(spec) is not None

    def discovery_failures(self) -> dict[str, str]:
        """Servers whose discovery failed lately (retried after DISCOVERY_RETRY_SECONDS), with the reason."""
        by_digest = {spec.digest: name for name, spec in self.specs.items()}
        return {by_digest[digest]: reason for digest, (_, reason) in self._failed.items() if digest in by_digest}

    def known_capabilities(self) -> ServedCapabilities:
        """What the served set offers beyond tools, prompts and resources, as far as it is known."""
        known = {name: self.cache.get(spec) or from_recorded(spec) for name, spec in self.specs.items()}
        return served_capabilities(
            self.specs, {name: found.capabilities if found else None for name, found in known.items()}
        )

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
            self.observer.unknown_tool(name, str(current_principal()))
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {name!r}")
        async with self.observer.tool_call(
            name, route.server, route.name, arguments, str(current_principal()), hooks.meta
        ) as call:
            call.outcome = "forbidden"  # until the policy and the secret scan let the call through
            principal = self.access.admit("tool", name, route.server, route.name)
            call.outcome = "secret_blocked"
            # Interceptors see arguments only once the scan let them through, and the result as it may go out.
            call.arguments = self.access.screen_arguments("tool", name, arguments, principal)
            call.outcome = "ok"
            answer = await self.interceptors.before(call)
            if answer is None:
                try:
                    answer = await self.pool.call(
                        self._spec(route.server),
                        lambda client: client.call_tool(
                            route.name, call.arguments, progress_callback=hooks.on_progress
                        ),
                        hooks,
                    )
                except ServerError as exc:
                    logger.warning("tool %s failed: %s", name, exc)
                    raise server_error(exc) from exc
                answer = self.access.screen_tool_result(name, _without_backend_identity(answer), principal)
            result = await self.interceptors.after(call, _without_backend_identity(answer))
            call.answered(result)
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

    async def resource_owner(self, uri: str) -> tuple[str, str]:
        """The server serving a resource URI (or a URI template, for completions), and the resource's name
        there (the URI, or the template it matches)."""
        found = (await self.served_listing(full=True)).resource_owner(uri)
        if found is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown resource {uri!r}")
        return found

    async def read_resource(self, uri: str, hooks: CallHooks) -> types.ReadResourceResult:
        server, name = await self.resource_owner(uri)
        principal = self.access.admit("resource", uri, server, name)
        try:
            read = await self.pool.call(self._spec(server), lambda client: client.read_resource(uri), hooks)
        except ServerError as exc:
            raise server_error(exc) from exc
        return self.access.screen_result("resource", uri, _without_backend_identity(read), principal)

    async def complete(self, params: types.CompleteRequestParams, hooks: CallHooks) -> types.CompleteResult:
        """Completions for a prompt's or a resource template's argument, from the server that owns it."""
        ref = params.ref
        backend_ref: types.PromptReference | types.ResourceTemplateReference
        if isinstance(ref, types.PromptReference):
            route = (await self.served_listing(full=True)).prompt_routes.get(ref.name)
            if route is None:
                raise MCPError(types.INVALID_PARAMS, f"unknown prompt {ref.name!r}")
            server, backend_ref = route.server, ref.model_copy(update={"name": route.name})
            principal = self.access.admit("prompt", ref.name, server, route.name)
        else:
            server, name = await self.resource_owner(ref.uri)
            backend_ref = ref
            principal = self.access.admit("resource", ref.uri, server, name)
        spec = self._spec(server)
        known = self.cache.get(spec) or from_recorded(spec)
        if known is not None and known.capabilities is not None and known.capabilities.completions is None:
            return types.CompleteResult(completion=types.Completion(values=[]))
        argument = {"name": params.argument.name, "value": params.argument.value}
        context = params.context.arguments if params.context is not None else None
        try:
            completed = await self.pool.call(
                spec, lambda client: client.complete(backend_ref, argument, context_arguments=context), hooks
            )
        except ServerError as exc:
            raise server_error(exc) from exc
        return self.access.screen_result("completion", params.argument.name, completed, principal)

    async def subscribe(self, uri: str, state: ClientSessionState, hooks: CallHooks) -> None:
        server, name = await self.resource_owner(uri)
        self.access.admit("resource", uri, server, name)
        try:
            await self.subscriptions.subscribe(state, self._spec(server), uri, hooks)
        except NotSubscribable as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from exc
        except ServerError as exc:
            raise server_error(exc) from exc

    async def unsubscribe(self, uri: str, state: ClientSessionState) -> None:
        await self.subscriptions.unsubscribe(state, uri)

    async def session_closed(self, state: ClientSessionState) -> None:
        """A client session ended: its subscriptions end with it."""
        await self.subscriptions.session_closed(state)

    async def roots_changed(self, state: ClientSessionState) -> None:
        """Tell the session's own (per-session) instances that its roots changed."""
        for resident in self.pool.residents_of(state):
            client = resident.client
            if client is not None and client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
                await client.session.send_notification(types.RootsListChangedNotification())

    # -- reloading (gateway/reloading.py) ---------------------------------------------------

    async def reload(self) -> bool:
        """Load the files again (see gateway/reloading.py); True when the served set or the listings changed."""
        return await reload_files(self)

    def forget_listings(self) -> None:
        """Drop the kept listings: the served set, or what a listing shows, changed."""
        self._listings.clear()


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
