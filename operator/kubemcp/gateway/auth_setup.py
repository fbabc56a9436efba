"""Which authentication a gateway's settings ask for, decided once at start-up.

- stdio (and a dry run): none (the desktop's own process is trusted);
- HTTP with `--allow-unauthenticated`: none, said loudly;
- HTTP otherwise: the named tokens of `--tokens-file` and `--tokens-dir`, OAuth access tokens when
  `--oauth-issuer` is set, and, when neither tokens nor OAuth are configured, the tokens file
  `$KUBEMCP_HOME/tokens.env`, created with a random `default` token if it holds none.
"""

from __future__ import annotations

import logging
import shlex

from kubemcp.files.tokens import DEFAULT_TOKEN_NAME, ensure_default_token
from kubemcp.gateway.auth_http import Authentication
from kubemcp.gateway.auth_jwt import JwtVerifier
from kubemcp.gateway.auth_tokens import StaticTokens
from kubemcp.gateway.security import is_loopback
from kubemcp.gateway.settings import GatewaySettings, default_tokens_file

logger = logging.getLogger(__name__)


def authentication_for(settings: GatewaySettings) -> Authentication | None:
    """The authentication to require, or None; raises a `KubemcpError` when tokens cannot be read."""
    if not settings.http or settings.dry_run:
        return None
    if settings.allow_unauthenticated:
        where = "on loopback only" if is_loopback(settings.host) else f"on {settings.host}: anyone who can reach it"
        logger.warning("serving WITHOUT authentication (--allow-unauthenticated) %s may call every tool", where)
        return None
    tokens_file, tokens_dir = settings.tokens_file, settings.tokens_dir
    created = False
    if tokens_file is None and tokens_dir is None and settings.oauth_issuer is None:
        tokens_file = default_tokens_file()
        created = ensure_default_token(tokens_file)
    tokens = None
    if tokens_file is not None or tokens_dir is not None:
        tokens = StaticTokens(tokens_file, tokens_dir)
        tokens.load()
    verifier = None
    if settings.oauth_issuer is not None:
        assert settings.oauth_jwks_url is not None
        assert settings.oauth_audience is not None
        verifier = JwtVerifier(
            issuer=settings.oauth_issuer,
            jwks_url=settings.oauth_jwks_url,
            audience=settings.oauth_audience,
            required_scopes=settings.oauth_scopes,
            groups_claim=settings.oauth_groups_claim,
            min_refresh=settings.oauth_jwks_min_refresh,
        )
    authentication = Authentication(tokens, verifier)
    if created:
        logger.info("created a random bearer token %r in %s", DEFAULT_TOKEN_NAME, tokens_file)
    for line in authentication.describe():
        logger.info("clients authenticate with %s", line)
    if tokens is not None:
        if tokens_file is not None and tokens.names():
            option = "" if tokens_file == default_tokens_file() else f" --tokens-file {shlex.quote(str(tokens_file))}"
            logger.info(
                "print a token for a client's 'Authorization: Bearer' header with: kubemcp token%s show %s",
                option,
                tokens.names()[0],
            )
        elif not tokens.names() and verifier is None:
            logger.warning("no bearer tokens yet: every request is refused until one is added")
    return authentication
