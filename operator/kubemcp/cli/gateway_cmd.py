"""`kubemcp gateway run`."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

import anyio

from kubemcp.cli._common import add_file_options, examples, split_list
from kubemcp.errors import SettingsError
from kubemcp.files.secrets import read_secrets
from kubemcp.gateway.settings import GatewaySettings
from kubemcp.logs import setup_logging
from kubemcp.model.gateway_options import InterceptorOption
from kubemcp.validation import one_line


def default(name: str) -> Any:
    """A setting's default: `GatewaySettings` is the one place defaults are written."""
    return GatewaySettings.model_fields[name].get_default(call_default_factory=True)


def register(commands: Any) -> None:
    parser = commands.add_parser("gateway", help="run the gateway", **examples("kubemcp gateway run"))
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="serve every enabled server's tools on one MCP endpoint",
        **examples(
            "kubemcp gateway run                                   # stdio, files from $KUBEMCP_HOME",
            "kubemcp gateway run --transport streaming --port 8811  # http://127.0.0.1:8811/mcp",
            "kubemcp gateway run --catalog docker-mcp.yaml --registry registry.yaml --config config.yaml",
        ),
    )
    run.add_argument("--transport", choices=["stdio", "sse", "streaming"], default=default("transport"))
    run.add_argument(
        "--port", type=int, default=default("port"), help=f"HTTP port (default {default('port')}; 0 picks one)"
    )
    run.add_argument("--host", default=default("host"), help=f"HTTP bind address (default {default('host')})")
    add_file_options(run)
    run.add_argument("--servers", action="append", metavar="A,B", help="serve only these servers")
    run.add_argument("--tools", action="append", metavar="T,U", help="serve only these tools (name or server:tool)")
    run.add_argument("--long-lived", action="store_true", help="keep every server running between calls")
    run.add_argument(
        "--idle-timeout",
        type=float,
        default=default("idle_timeout"),
        help=f"seconds before an idle long-lived server stops (default {default('idle_timeout'):g})",
    )
    run.add_argument(
        "--call-timeout", type=float, default=default("call_timeout"), help="seconds a backend request may take"
    )
    run.add_argument("--prefix-tools", action="store_true", help="serve every tool as <server>__<tool>")
    run.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default=default("event_loop"),
        help=f"event loop (default {default('event_loop')}; uvloop needs the 'fast' extra)",
    )
    run.add_argument(
        "--http-parser",
        choices=["auto", "h11", "httptools"],
        default=default("http_parser"),
        help=f"HTTP parser (default {default('http_parser')}; httptools needs the 'fast' extra; auto: it if installed)",
    )
    run.add_argument(
        "--no-fast-path",
        action="store_true",
        help="answer every request through the MCP SDK's HTTP transport, kept tools/list answers and "
        "tools/call, prompts/get and resources/read to long-lived and per-call servers included (by default "
        "those are answered in front of it; for comparison)",
    )
    run.add_argument("--dry-run", action="store_true", help="load everything, list what would be served, exit")
    run.add_argument(
        "--log-calls", action="store_true", help="a log line per tool call (the audit record is on anyway)"
    )
    run.add_argument("--debug", action="store_true", help="debug logging (also DEBUG=1 or LOG_LEVEL=debug)")
    run.add_argument("--log-format", choices=["text", "json"], default="text")
    run.add_argument("--no-watch", action="store_true", help="do not reload when the files change")
    run.add_argument(
        "--watch-interval",
        type=float,
        default=default("watch_interval"),
        help="seconds between checks for file changes",
    )
    run.add_argument("--allowed-host", action="append", default=[], metavar="HOST[:PORT|:*]")
    run.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN")
    run.add_argument("--max-body-bytes", type=int, default=default("max_body_bytes"))
    observe = run.add_argument_group("observability and interceptors (README: Observability)")
    observe.add_argument(
        "--no-audit", action="store_true", help="no audit record per tool call (default: one JSON line on stderr)"
    )
    observe.add_argument("--audit-file", type=Path, metavar="FILE", help="also append audit records here (0600)")
    observe.add_argument(
        "--interceptor",
        action="append",
        default=[],
        metavar="WHEN:TYPE:TARGET",
        help="before|after : exec|http : command or URL, e.g. before:exec:/path/to/cmd (repeatable, in order)",
    )
    observe.add_argument(
        "--otlp-endpoint", metavar="URL", help="send traces over OTLP/HTTP (default $OTEL_EXPORTER_OTLP_ENDPOINT)"
    )
    observe.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="also serve /metrics alone on this port, unauthenticated"
    )
    observe.add_argument(
        "--options", type=Path, metavar="FILE", help="gateway.yaml: options applied now and whenever the file changes"
    )
    run.add_argument(
        "--shutdown-grace",
        type=float,
        default=default("shutdown_grace"),
        help=f"seconds calls in flight may take to finish on SIGTERM (default {default('shutdown_grace'):g})",
    )
    run.add_argument(
        "--shutdown-handover",
        type=float,
        default=default("shutdown_handover"),
        help="with replicas: seconds a stopping replica keeps accepting requests and hands them to the others, "
        f"while the Service stops sending it any (default {default('shutdown_handover'):g})",
    )
    admission = run.add_argument_group("per-call instances running at once")
    admission.add_argument(
        "--max-instances",
        type=int,
        default=default("max_instances"),
        help=f"in total (default {default('max_instances')}: 4 per CPU, at least 8)",
    )
    admission.add_argument(
        "--max-instances-per-server",
        type=int,
        default=default("max_instances_per_server"),
        help="per server, unless its entry sets kubernetes.maxInstances (default: the total)",
    )
    admission.add_argument(
        "--max-queued",
        type=int,
        default=default("max_queued"),
        help=f"calls that may wait for a free instance (default {default('max_queued')})",
    )
    admission.add_argument(
        "--queue-timeout",
        type=float,
        default=default("queue_timeout"),
        help=f"seconds a call may wait before it fails as saturated (default {default('queue_timeout'):g})",
    )
    sessions = run.add_argument_group("streamable HTTP sessions")
    sessions.add_argument(
        "--session-idle-timeout",
        type=float,
        default=default("session_idle_timeout"),
        help=f"seconds before an idle session ends (default {default('session_idle_timeout'):g})",
    )
    sessions.add_argument(
        "--max-sessions",
        type=int,
        default=default("max_sessions"),
        help=f"sessions open at once, all clients together (default {default('max_sessions')})",
    )
    sessions.add_argument(
        "--max-sessions-per-client",
        type=int,
        default=default("max_sessions_per_client"),
        help=f"sessions one client may hold; at the cap its least recently used idle one is closed "
        f"(default {default('max_sessions_per_client')})",
    )
    limits = run.add_argument_group("limits for HTTP clients")
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=default("header_timeout"),
        help=f"seconds a request head may take from its first byte (default {default('header_timeout'):g})",
    )
    limits.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=default("keep_alive_timeout"),
        help=f"seconds an idle connection (a new one that sent nothing yet, or between requests) is kept "
        f"for the client's request (default {default('keep_alive_timeout'):g})",
    )
    limits.add_argument(
        "--body-timeout",
        type=float,
        default=default("body_timeout"),
        help=f"seconds a request body may take to arrive (default {default('body_timeout'):g})",
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        default=default("max_connections"),
        help=f"connections open at once, lowered to fit the open-files limit (default {default('max_connections')})",
    )
    local = run.add_argument_group("local containers (image entries without a 'process' form)")
    local.add_argument(
        "--engine", metavar="URL", help="container engine (default $DOCKER_HOST, then well-known sockets)"
    )
    local.add_argument("--container-network", metavar="NAME", help="engine network for server containers")
    _security_options(run)
    cluster = run.add_argument_group("Kubernetes runtime")
    cluster.add_argument(
        "--runtime", choices=["local", "kubernetes"], default=default("runtime"), help="where servers run"
    )
    cluster.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    cluster.add_argument("--namespace", help="namespace for server Pods (default: the context's)")
    cluster.add_argument("--from-configmap", metavar="NAME", help="serve an MCPGateway's ConfigMap instead of files")
    cluster.add_argument("--gateway-name", help="label server Pods with this gateway name")
    cluster.add_argument("--image-pull-policy", choices=["Always", "IfNotPresent", "Never"])
    cluster.add_argument(
        "--start-timeout", type=float, default=default("start_timeout"), help="seconds a server Pod may take to start"
    )
    replicas = run.add_argument_group("replicas (several gateways behind one Service)")
    replicas.add_argument("--replica-key-file", type=Path, help="the key the replicas share (sessions work on any)")
    replicas.add_argument("--advertise", metavar="HOST:PORT", help="where the other replicas reach this one")
    replicas.add_argument("--peer", action="append", default=[], metavar="HOST:PORT", help="another replica")
    replicas.add_argument("--peers-service", metavar="NAME", help="find the replicas from this Service's endpoints")
    run.set_defaults(handler=_run)


def _security_options(run: argparse.ArgumentParser) -> None:
    auth = run.add_argument_group("authentication (HTTP transports; stdio is trusted)")
    auth.add_argument(
        "--tokens-file",
        type=Path,
        metavar="FILE",
        help="bearer tokens, NAME=token lines (default: $KUBEMCP_HOME/tokens.env, created with a 'default' token)",
    )
    auth.add_argument(
        "--tokens-dir", type=Path, metavar="DIR", help="bearer tokens, one file per token named after its principal"
    )
    auth.add_argument(
        "--allow-unauthenticated", action="store_true", help="serve HTTP without authentication (not recommended)"
    )
    auth.add_argument("--oauth-issuer", metavar="URL", help="accept OAuth access tokens (JWTs) from this issuer")
    auth.add_argument("--oauth-jwks-url", metavar="URL", help="the issuer's JSON Web Key Set")
    auth.add_argument("--oauth-audience", metavar="URL", help="this gateway's resource URL, the tokens' audience")
    auth.add_argument("--oauth-scopes", action="append", metavar="A,B", help="scopes every access token must have")
    auth.add_argument(
        "--oauth-groups-claim",
        default=default("oauth_groups_claim"),
        metavar="CLAIM",
        help=f"the claim listing a caller's groups (default {default('oauth_groups_claim')})",
    )
    auth.add_argument(
        "--oauth-jwks-min-refresh",
        type=float,
        default=default("oauth_jwks_min_refresh"),
        metavar="S",
        help="seconds between fetches of the key set for unknown key ids",
    )
    policy = run.add_argument_group("authorization and secret scanning")
    policy.add_argument(
        "--authz", type=Path, metavar="FILE", help="authorization policy (default: $KUBEMCP_HOME/authz.yaml if present)"
    )
    policy.add_argument(
        "--secret-scan",
        choices=["block", "redact", "off"],
        default=default("secret_scan"),
        help=f"secrets in tool arguments and results (default {default('secret_scan')})",
    )


def settings_from(args: argparse.Namespace) -> GatewaySettings:
    from pydantic import ValidationError

    values: dict[str, object] = {
        "transport": args.transport,
        "host": args.host,
        "port": args.port,
        "catalogs": args.catalog or [],
        "registry": args.registry,
        "config": args.config,
        "secrets": args.secrets,
        "servers": split_list(args.servers),
        "tools": split_list(args.tools),
        "long_lived": args.long_lived,
        "idle_timeout": args.idle_timeout,
        "call_timeout": args.call_timeout,
        "prefix_tools": args.prefix_tools,
        "dry_run": args.dry_run,
        "log_calls": args.log_calls,
        "debug": args.debug,
        "watch": not args.no_watch,
        "watch_interval": args.watch_interval,
        "allowed_hosts": args.allowed_host,
        "allowed_origins": args.allowed_origin,
        "max_body_bytes": args.max_body_bytes,
        "event_loop": args.loop,
        "http_parser": args.http_parser,
        "fast_path": not args.no_fast_path,
        "runtime": args.runtime,
        "engine": args.engine,
        "container_network": args.container_network,
        "kubeconfig": args.kubeconfig,
        "namespace": args.namespace,
        "from_configmap": args.from_configmap,
        "gateway_name": args.gateway_name,
        "image_pull_policy": args.image_pull_policy,
        "start_timeout": args.start_timeout,
        "shutdown_grace": args.shutdown_grace,
        "shutdown_handover": args.shutdown_handover,
        "header_timeout": args.header_timeout,
        "keep_alive_timeout": args.keep_alive_timeout,
        "body_timeout": args.body_timeout,
        "max_connections": args.max_connections,
        "max_instances": args.max_instances,
        "max_instances_per_server": args.max_instances_per_server,
        "max_queued": args.max_queued,
        "queue_timeout": args.queue_timeout,
        "session_idle_timeout": args.session_idle_timeout,
        "max_sessions": args.max_sessions,
        "max_sessions_per_client": args.max_sessions_per_client,
        "replica_key_file": args.replica_key_file,
        "advertise": args.advertise,
        "peers": args.peer,
        "peers_service": args.peers_service,
        "audit": not args.no_audit,
        "audit_file": args.audit_file,
        "interceptors": [_interceptor(text) for text in args.interceptor],
        "otlp_endpoint": args.otlp_endpoint,
        "metrics_port": args.metrics_port,
        "options_file": args.options,
        "allow_unauthenticated": args.allow_unauthenticated,
        "tokens_file": args.tokens_file,
        "tokens_dir": args.tokens_dir,
        "oauth_issuer": args.oauth_issuer,
        "oauth_jwks_url": args.oauth_jwks_url,
        "oauth_audience": args.oauth_audience,
        "oauth_scopes": split_list(args.oauth_scopes),
        "oauth_groups_claim": args.oauth_groups_claim,
        "oauth_jwks_min_refresh": args.oauth_jwks_min_refresh,
        "authz": args.authz,
        "secret_scan": args.secret_scan,
    }
    try:
        return GatewaySettings.with_defaults(**values)
    except ValidationError as exc:
        raise SettingsError(one_line(exc, root="settings")) from None


def _interceptor(text: str) -> InterceptorOption:
    from pydantic import ValidationError

    try:
        return InterceptorOption.parse(text)
    except ValidationError as exc:
        raise SettingsError(f"--interceptor {text}: {one_line(exc, root='interceptor')}") from None
    except ValueError as exc:
        raise SettingsError(f"--{exc}") from None


def _run(args: argparse.Namespace) -> int:
    setup_logging(debug=args.debug, json_format=args.log_format == "json")
    settings = settings_from(args)
    if settings.secrets is not None:
        read_secrets(settings.secrets)  # known from now on, so masked in every log line
    from kubemcp.gateway.app import dry_run, run_gateway

    if settings.dry_run:
        anyio.run(dry_run, settings, sys.stdout)
        return 0
    for wanted, package in ((settings.event_loop, "uvloop"), (settings.http_parser, "httptools")):
        if wanted == package and importlib.util.find_spec(package) is None:
            raise SettingsError(f"{package} is not installed: pip install 'kubemcp[fast]' (or leave it unselected)")
    anyio.run(run_gateway, settings, backend_options={"use_uvloop": settings.event_loop == "uvloop"})
    return 0
