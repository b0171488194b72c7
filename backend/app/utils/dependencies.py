"""FastAPI dependencies and their ``Annotated`` aliases, defined once and used everywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.database import session_scope
from app.services.state import AppState


def get_app_state(request: Request) -> AppState:
    state: AppState = request.app.state.services
    return state


AppStateDep = Annotated[AppState, Depends(get_app_state)]


def get_app_settings(state: AppStateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_db_session(state: AppStateDep) -> AsyncIterator[AsyncSession]:
    async for session in session_scope(state.sessionmaker):
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_db_session)]
