"""The bundled auth server's OAuth settings (auth-server/src/config.ts): each provider is on when
its variables are set, and a half-configured one is refused with the missing variable's name, as
``loadConfig`` reads them (what the server and the migrations run at start)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devstack.processes import AUTH_SERVER_DIR, auth_server_environment, run_command
from tests.e2e.stack import Environment

pytestmark = pytest.mark.e2e

GOOGLE = {"GOOGLE_CLIENT_ID": "google-client.apps.example", "GOOGLE_CLIENT_SECRET": "g-secret"}
GITHUB = {"GITHUB_CLIENT_ID": "Iv1.github-client", "GITHUB_CLIENT_SECRET": "gh-secret"}

# Runs auth-server/src/config.ts's loadConfig once per environment of BAB_CASES.
LOAD_CONFIGS = """
import { loadConfig } from "./src/config.ts";
const results = JSON.parse(process.env.BAB_CASES).map((env) => {
  try {
    return { social: loadConfig({ DATABASE_URL: "sqlite://", ...env }).social };
  } catch (error) {
    return { error: error.message };
  }
});
console.log(JSON.stringify(results));
"""
DISCOVERY = "https://idp.example.com/.well-known/openid-configuration"
OIDC = {"OIDC_DISCOVERY_URL": DISCOVERY, "OIDC_CLIENT_ID": "app", "OIDC_CLIENT_SECRET": "s"}
CONFIG_CASES: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({}, {"social": {}}),
    (
        {**GOOGLE, **GITHUB},
        {
            "social": {
                "google": {"clientId": "google-client.apps.example", "clientSecret": "g-secret"},
                "github": {"clientId": "Iv1.github-client", "clientSecret": "gh-secret"},
            }
        },
    ),
    (
        OIDC,
        {
            "social": {
                "oidc": {
                    "providerId": "oidc",
                    "discoveryUrl": DISCOVERY,
                    "scopes": ["openid", "email", "profile"],
                    "clientId": "app",
                    "clientSecret": "s",
                }
            }
        },
    ),
    (
        {**OIDC, "OIDC_PROVIDER_ID": "corp-sso", "OIDC_SCOPES": "openid, email groups"},
        {
            "social": {
                "oidc": {
                    "providerId": "corp-sso",
                    "discoveryUrl": DISCOVERY,
                    "scopes": ["openid", "email", "groups"],
                    "clientId": "app",
                    "clientSecret": "s",
                }
            }
        },
    ),
    (
        {"GOOGLE_CLIENT_ID": "id"},
        {"error": "GOOGLE_CLIENT_SECRET: required when GOOGLE_CLIENT_ID is set"},
    ),
    (
        {"GITHUB_CLIENT_SECRET": "s"},
        {"error": "GITHUB_CLIENT_ID: required when GITHUB_CLIENT_SECRET is set"},
    ),
    (
        {"OIDC_CLIENT_ID": "app", "OIDC_CLIENT_SECRET": "s"},
        {"error": "OIDC_DISCOVERY_URL: required when OIDC_CLIENT_ID is set"},
    ),
    (
        {"OIDC_DISCOVERY_URL": DISCOVERY},
        {"error": "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET: required when OIDC_DISCOVERY_URL is set"},
    ),
    (
        {**OIDC, "OIDC_DISCOVERY_URL": "idp.example.com"},
        {
            "error": "OIDC_DISCOVERY_URL: not a URL "
            "(e.g. https://idp.example.com/.well-known/openid-configuration)"
        },
    ),
    (
        {**OIDC, "OIDC_PROVIDER_ID": "My/IdP"},
        {
            "error": "OIDC_PROVIDER_ID: lower-case letters, digits, - and _ "
            "(it is a URL path segment)"
        },
    ),
    (
        {**OIDC, **GOOGLE, "OIDC_PROVIDER_ID": "google"},
        {"error": 'OIDC_PROVIDER_ID: "google" is already the built-in provider'},
    ),
]


def test_providers_are_on_when_set_and_half_configured_ones_refused(
    e2e: Environment,
) -> None:
    env = auth_server_environment(
        "sqlite://", e2e.secret, BAB_CASES=json.dumps([case for case, _ in CONFIG_CASES])
    )
    completed = run_command(
        ["node", "--import", "tsx", "--input-type=module", "-e", LOAD_CONFIGS],
        cwd=AUTH_SERVER_DIR,
        env=env,
    )
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    assert results == [expected for _, expected in CONFIG_CASES]
