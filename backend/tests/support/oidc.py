"""A real OpenID Connect provider as a test process: ``tests/support/oidc_provider/server.mjs``
(the certified ``oidc-provider`` package, pinned in that folder's own package.json and lock, and
installed by ``make test-e2e`` as the auth server's dependencies are).

Its clients and accounts are given at start (``OidcClient``, ``OidcAccount``); its issuer is its
own origin, ``http://127.0.0.1:<port>``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devstack.processes import ManagedProcess, clean_environment

OIDC_PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
# What server.mjs reads; nothing else of the run's environment may change it.
_VARIABLES = frozenset({"HOST", "PORT", "OIDC_TEST_CONFIG", "NODE_OPTIONS", "DEBUG"})


def oidc_provider_problem() -> str | None:
    """Why the provider cannot run here, or ``None``."""
    if not (OIDC_PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return (
            f"{OIDC_PROVIDER_DIR / 'node_modules'} is missing: run `npm ci` there "
            "(or `make test-e2e`, which does)"
        )
    return None


@dataclass(frozen=True)
class OidcAccount:
    """A user of the provider; signs in with ``email`` and ``password``."""

    email: str
    name: str = "OIDC User"
    email_verified: bool = True
    sub: str = field(default_factory=lambda: f"sub-{secrets.token_hex(8)}")
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))


@dataclass(frozen=True)
class OidcClient:
    """A confidential client. ``application_type`` native: its ``http://127.0.0.1/...``
    redirect URIs match on any port (RFC 8252 section 7.3)."""

    redirect_uris: tuple[str, ...]
    client_id: str = field(default_factory=lambda: f"client-{secrets.token_hex(4)}")
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def metadata(self) -> dict[str, object]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "application_type": "native",
            "redirect_uris": list(self.redirect_uris),
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            # Better-Auth's default for a client with a secret (@better-auth/core oauth2).
            "token_endpoint_auth_method": "client_secret_post",
        }


@dataclass(eq=False, kw_only=True)
class OidcProvider(ManagedProcess):
    name: str = "oidc-provider"
    health_path: str = "/health"
    clients: tuple[OidcClient, ...] = ()
    accounts: tuple[OidcAccount, ...] = ()

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def command(self, port: int) -> list[str]:
        return ["node", "server.mjs"]

    def cwd(self) -> Path:
        return OIDC_PROVIDER_DIR

    def child_environment(self, port: int) -> dict[str, str]:
        config = {
            "clients": [client.metadata() for client in self.clients],
            "accounts": [asdict(account) for account in self.accounts],
        }
        return {
            **clean_environment(_VARIABLES),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "OIDC_TEST_CONFIG": json.dumps(config),
            **self.env,
        }
