"""Which Better-Auth the end-to-end suite runs against: the pinned one (auth-server/package.json)
or, under ``make test-matrix``, another installation named by ``E2E_AUTH_SERVER_DIR``.

A test of something an older line lacks is skipped there with :func:`requires_better_auth`,
naming the missing feature; docs/reference/better-auth-versions.md lists every such skip.
"""

from __future__ import annotations

import json
from functools import cache

import pytest

from devstack.processes import AUTH_SERVER_DIR, PROJECT_DIR


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-", 1)[0].split("."))


@cache
def pinned_version() -> str:
    manifest = json.loads((PROJECT_DIR / "auth-server" / "package.json").read_text())
    return str(manifest["dependencies"]["better-auth"])


@cache
def running_version() -> str:
    """The better-auth installed where the suite starts the auth server from."""
    manifest = AUTH_SERVER_DIR / "node_modules" / "better-auth" / "package.json"
    return str(json.loads(manifest.read_text())["version"])


def is_pinned() -> bool:
    return running_version() == pinned_version()


def before(major: int, minor: int) -> bool:
    """Whether the running Better-Auth is older than ``major.minor`` (not installed: no; the
    prerequisites check reports that)."""
    try:
        return _version_tuple(running_version())[:2] < (major, minor)
    except (OSError, ValueError, KeyError):
        return False


def generic_oauth_callback(provider_id: str) -> str:
    """The path the genericOAuth plugin's provider sends the browser back to: 1.7 uses the core
    ``/callback/<id>``, 1.6 its own ``/oauth2/callback/<id>``."""
    return f"/api/auth{'/oauth2' if before(1, 7) else ''}/callback/{provider_id}"


def requires_better_auth(minimum: str, feature: str) -> pytest.MarkDecorator:
    """Skip when the running Better-Auth is older than ``minimum`` (which added ``feature``)."""
    major, minor = _version_tuple(minimum)[:2]
    return pytest.mark.skipif(
        before(major, minor),
        reason=f"Better-Auth {minimum} added {feature}; this run uses an older version",
    )


def pinned_only(reason: str) -> pytest.MarkDecorator:
    """Skip on any other version than the pinned one, for a test defined by the pinned version's
    own output (the committed conformance vectors)."""
    try:
        other = not is_pinned()
    except (OSError, ValueError, KeyError):
        other = False
    return pytest.mark.skipif(other, reason=reason)
