"""`kubemcp operator`: run the operator that turns MCPCatalogs, MCPServers and MCPGateways into Pods."""

from __future__ import annotations

import argparse
import os
from typing import Any

from kubemcp.errors import SettingsError


def register(commands: Any) -> None:
    from kubemcp.cli._common import examples
    from kubemcp.controller.options import DEFAULT_GATEWAY_IMAGE, OperatorOptions

    parser = commands.add_parser(
        "operator", help="run the Kubernetes operator", **examples("kubemcp operator --namespace kubemcp-system")
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        metavar="NS",
        help="watch this namespace (repeatable; default: the kubeconfig's or the Pod's own namespace)",
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    parser.add_argument(
        "--gateway-image",
        default=os.environ.get("KUBEMCP_GATEWAY_IMAGE", DEFAULT_GATEWAY_IMAGE),
        help=f"image of MCPGateway Deployments that name none (default {DEFAULT_GATEWAY_IMAGE})",
    )
    parser.add_argument(
        "--image-pull-policy",
        choices=["Always", "IfNotPresent", "Never"],
        help="pull policy of server Pods whose MCPServer names none",
    )
    parser.add_argument(
        "--liveness",
        metavar="URL",
        help="serve the health probe (while leading and while waiting), e.g. http://0.0.0.0:8080/healthz",
    )
    defaults = OperatorOptions()
    parser.add_argument(
        "--interval",
        type=float,
        default=defaults.interval,
        help=f"seconds between level-based passes (default {defaults.interval:g})",
    )
    parser.add_argument(
        "--discovery-timeout",
        type=float,
        default=defaults.discovery_timeout,
        help="seconds one tool discovery may take",
    )
    parser.add_argument(
        "--start-timeout", type=float, default=defaults.start_timeout, help="seconds a server Pod may take to start"
    )
    parser.add_argument(
        "--leader-election",
        action="store_true",
        help="run as one of several replicas: only the holder of a coordination.k8s.io Lease reconciles",
    )
    parser.add_argument("--lease-name", default=defaults.lease_name, help="the Lease (default %(default)s)")
    parser.add_argument("--lease-namespace", help="the Lease's namespace (default: the operator's own)")
    parser.add_argument("--debug", action="store_true", help="debug logging, including kopf's")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from kubemcp.controller.options import OperatorOptions
    from kubemcp.controller.runner import run
    from kubemcp.kube.config import load_config

    namespaces = tuple(dict.fromkeys(args.namespace))
    if not args.all_namespaces and not namespaces:
        namespaces = (load_config(args.kubeconfig).namespace,)
    if args.interval < 1:
        raise SettingsError("--interval must be at least 1 second")
    options = OperatorOptions(
        namespaces=namespaces,
        all_namespaces=args.all_namespaces,
        kubeconfig=args.kubeconfig,
        gateway_image=args.gateway_image,
        image_pull_policy=args.image_pull_policy,
        liveness=args.liveness,
        interval=args.interval,
        discovery_timeout=args.discovery_timeout,
        start_timeout=args.start_timeout,
        leader_election=args.leader_election,
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace,
    )
    run(options, debug=args.debug)
    return 0
