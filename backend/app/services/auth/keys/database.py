"""Public keys straight from Better-Auth's ``jwks`` table (``JWKS_SOURCE=database``).

For deployments where the API cannot reach the auth server over HTTP but shares its database.
Only ``id`` (the published kid), ``publicKey``, ``alg`` and ``crv`` are read; the encrypted
``privateKey`` column is never selected. Rows past ``expiresAt`` plus Better-Auth's grace period
are still offered, as Better-Auth's own JWKS endpoint does; the token's ``exp`` bounds them.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models.jwks import Jwks
from app.services.auth.jose import InvalidJwkError
from app.services.auth.keys.sources import FetchedKeys, KeySourceError, jwk_from_jwks_row

logger = logging.getLogger(__name__)


class DatabaseKeySource:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def fetch(self) -> FetchedKeys:
        statement = select(Jwks.id, Jwks.public_key, Jwks.alg, Jwks.crv).order_by(
            Jwks.created_at.desc()
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
