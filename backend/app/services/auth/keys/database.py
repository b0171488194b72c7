"""Public keys straight from Better-Auth's ``jwks`` table (``JWKS_SOURCE=database``).

For deployments where the API cannot reach the auth server over HTTP but shares its database.
Only ``id`` (the published kid), ``publicKey``, ``alg`` and ``crv`` are read; the encrypted
``privateKey`` column is never selected. A row past ``expiresAt`` plus the grace period
(``JWKS_GRACE_PERIOD_SECONDS``, Better-Auth's ``jwks.gracePeriod``, 30 days by default) is
dropped, as Better-Auth's own ``/jwks`` drops it: a retired key stops verifying here when it stops
being published there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models.jwks import Jwks
from app.services.auth.jose import InvalidJwkError
from app.services.auth.keys.sources import FetchedKeys, KeySourceError, jwk_from_jwks_row

logger = logging.getLogger(__name__)


class DatabaseKeySource:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        grace_period_seconds: float = 30 * 86400,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessionmaker = sessionmaker
        self._grace = timedelta(seconds=grace_period_seconds)
        self._now = now

    async def fetch(self) -> FetchedKeys:
        # Better-Auth keeps a key while expiresAt + gracePeriod > now (strictly).
        horizon = self._now() - self._grace
        statement = (
            select(Jwks.id, Jwks.public_key, Jwks.alg, Jwks.crv)
            .where(or_(Jwks.expires_at.is_(None), Jwks.expires_at > horizon))
            .order_by(Jwks.created_at.desc())
        )
        try:
            async with self._sessionmaker() as session:
                rows = (await session.execute(statement)).all()
        except Exception as error:  # database outage: the cache decides what to serve
            raise KeySourceError(f"jwks table unreadable: {type(error).__name__}") from error
        keys = []
        for row in rows:
            try:
                keys.append(jwk_from_jwks_row(row.id, row.public_key, row.alg, row.crv))
            except InvalidJwkError:
                logger.warning("skipping malformed jwks row", extra={"kid": row.id})
        return FetchedKeys(keys=keys, max_age=None)
