"""Running the operator: kopf with the kubemcp handlers, in some namespaces or the whole cluster."""

from __future__ import annotations

import logging
import os

import kopf

from kubemcp.controller.kopf_handlers import register
from kubemcp.controller.options import OperatorOptions
from kubemcp.kube.config import load_config
from kubemcp.logs import setup_logging

logger = logging.getLogger(__name__)


def run(options: OperatorOptions, *, debug: bool = False) -> None:
    """Block until SIGINT or SIGTERM."""
    setup_logging(debug=debug)
    if not debug:
        for noisy in ("kopf", "kopf.objects", "kopf.activities"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    config = load_config(options.kubeconfig)  # a broken kubeconfig fails here, before kopf starts
    if options.kubeconfig:
        os.environ["KUBECONFIG"] = options.kubeconfig  # kopf's own watches use the same credentials
    registry = kopf.OperatorRegistry()
    register(registry, options, config)
    scope = "all namespaces" if options.all_namespaces else ", ".join(options.namespaces)
    logger.info("kubemcp operator starting (%s; gateway image %s)", scope, options.gateway_image)
    kopf.run(
        registry=registry,
        clusterwide=options.all_namespaces,
        namespaces=list(options.namespaces),
        standalone=True,
        liveness_endpoint=options.liveness,
    )
