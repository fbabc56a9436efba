"""Reloading the gateway's files while it serves: the catalog, registry, config and options files (the
served set and the options that apply without a restart), and the access files (tokens, policy).

A reload that finds bad files, or a file caught in the middle of a save (see gateway/file_watch.py),
changes nothing: the gateway keeps serving what it served. A change of the served set, or of what
the listings show, tells every client session that its lists changed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio

from kubemcp.errors import KubemcpError
from kubemcp.gateway.file_watch import emptied, stamp
from kubemcp.gateway.options import Effective, effective
from kubemcp.telemetry.metrics import CONFIG_RELOADS

if TYPE_CHECKING:
    from kubemcp.gateway.core import Gateway

logger = logging.getLogger(__name__)


def apply_options(gateway: Gateway, options: Effective) -> None:
    """Options that apply without a restart (see gateway/options.py)."""
    gateway.audit.configure(enabled=options.audit, file=options.audit_file)  # first: it may refuse
    gateway.options = options
    gateway.pool.idle_timeout = options.idle_timeout
    gateway.pool.sessions.call_timeout = options.call_timeout
    gateway.observer.log_calls = options.log_calls
    gateway.interceptors.configure(list(options.interceptors))


async def reload_files(gateway: Gateway) -> bool:
    """Load the files again; on a change of the served set, notify every client. Bad files change
    nothing, nor does a file caught in the middle of a save (see gateway/file_watch.py)."""
    settings = gateway.settings
    previous = gateway.options
    before = stamp(settings.watched_files)
    if saving := emptied(gateway.loaded_stamp, before):
        gateway.reloads["refused"] += 1
        logger.warning(
            "not reloading: %s is empty, taken as a save in progress; serving what was served until it "
            "changes again (to empty a file on purpose, leave a comment in it)",
            ", ".join(saving),
        )
        CONFIG_RELOADS.labels(outcome="rejected").inc()
        return False
    try:  # parsing a large catalog must not hold up the requests being served meanwhile
        served = await anyio.to_thread.run_sync(gateway.load_files, settings)
        if stamp(settings.watched_files) != before:
            logger.info("not reloading yet: the files changed while they were read; reading them again")
            return False
        options = effective(settings)
        apply_options(gateway, options)
    except KubemcpError as exc:
        gateway.reloads["refused"] += 1
        logger.error("not reloading, the files have errors:\n%s", exc)
        CONFIG_RELOADS.labels(outcome="rejected").inc()
        return False
    gateway.loaded_stamp = before
    specs = served.specs
    gateway.refused = served.refused
    changed = {name: spec.digest for name, spec in gateway.specs.items()} != {
        name: spec.digest for name, spec in specs.items()
    }
    listing_changed = options.listing_key != previous.listing_key
    if options != previous:
        logger.info("gateway options changed")
    gateway.specs = specs
    gateway.forget_listings()
    gateway.pool.warm_up(list(specs.values()))
    CONFIG_RELOADS.labels(outcome="applied" if changed or listing_changed else "unchanged").inc()
    if not changed and not listing_changed:
        gateway.reloads["unchanged"] += 1
        return False
    gateway.reloads["applied"] += 1
    logger.info("served servers changed: %s", ", ".join(specs) or "(none)")
    await gateway.notifier.lists_changed()
    return True


async def watch_files(gateway: Gateway) -> None:
    """Reload whenever the files change (polled every `watch_interval`), for as long as the gateway runs."""
    seen, access = stamp(gateway.settings.watched_files), gateway.access.stamp()
    while True:
        await anyio.sleep(gateway.settings.watch_interval)
        current = stamp(gateway.settings.watched_files)
        if current != seen:
            seen = current
            try:
                await gateway.reload()
            except Exception:  # whatever the files hold, the gateway keeps serving what it served
                gateway.reloads["refused"] += 1
                logger.exception("not reloading: unexpected error while loading the files")
        if (current_access := gateway.access.stamp()) != access:
            access = current_access
            try:
                if gateway.access.reload():
                    await gateway.notifier.lists_changed()
            except Exception:  # a bad tokens or policy file: the current ones stay in force
                logger.exception("not reloading the access files: unexpected error")
