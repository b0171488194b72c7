"""Issue 17.6: a forged ``X-Forwarded-For`` must not choose the client address.

uvicorn's ``--proxy-headers`` takes the client address from ``X-Forwarded-For`` only when the
peer is in ``--forwarded-allow-ips`` (``FORWARDED_ALLOW_IPS``); with ``*`` any client can name
its own address and so escape the per-IP rate limit and write what it likes into
``audit_event.ipAddress``. A real ``python -m uvicorn app.main:app`` process, run the way the
Docker entry point runs it, proves both sides with the per-IP limit on ``/api/v1/auth/*``: from
an untrusted peer every forged address is the same client and the limit bites; only when the
peer is trusted (or ``*``) do the forged addresses count as different clients.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from devstack.processes import running_api

BUDGET = 3


def statuses_with_forged_addresses(database_url: str, allow_ips: str) -> list[int]:
    """Six anonymous introspection calls, each claiming another address, from 127.0.0.1."""
    with (
        running_api(
            database_url,
            extra_args=("--proxy-headers", "--forwarded-allow-ips", allow_ips),
            RATE_LIMIT_ENABLED="true",
            RATE_LIMIT_PER_IP=f"{BUDGET}/minute",
        ) as api,
        httpx.Client(base_url=api.url, timeout=10, trust_env=False) as client,
    ):
        return [
            client.post(
                "/api/v1/auth/verify",
                json={"token": "not-a-token"},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            ).status_code
            for n in range(2 * BUDGET)
        ]


@pytest.mark.postgres_only
def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(
    settings: Settings,
    engine: AsyncEngine,  # migrated before the process starts
) -> None:
    # The proxy is 10.0.0.10; the test client (127.0.0.1) is not it.
    statuses = statuses_with_forged_addresses(settings.database_url, "10.0.0.10")
    assert statuses[:BUDGET] == [200] * BUDGET
    assert statuses[BUDGET:] == [429] * BUDGET


@pytest.mark.postgres_only
@pytest.mark.parametrize("allow_ips", ["127.0.0.1", "*"])
def test_a_trusted_peer_names_the_client(
    settings: Settings, engine: AsyncEngine, allow_ips: str
) -> None:
    """The control: when the peer is trusted the header is used, so the test above would see
    a forged address taken. ``*`` trusts every peer, which is why it must not be used unless
    only the proxy can reach the port."""
    statuses = statuses_with_forged_addresses(settings.database_url, allow_ips)
    assert statuses == [200] * (2 * BUDGET)
