"""Everything the running app holds: built in the lifespan, disposed on shutdown."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    http_client: httpx.AsyncClient

    async def aclose(self) -> None:
        await self.http_client.aclose()
        await self.engine.dispose()
