"""``fastapi-better-auth-bridge`` 0.6.0, mode A (Better-Auth's signed session cookie, looked up in
the database Better-Auth writes): the package's production setup, ``SqlAlchemySessionStore`` on
an async engine, ``CookieVerifier`` with the shared secret and ``OriginCheck`` (checked on unsafe
methods only: ``GET`` is not), the store connected in the lifespan as its README recommends.

``secure_cookies=False``: Better-Auth sets the plain ``better-auth.session_token`` cookie on an
``http://`` base URL, as the bench's auth server has."""

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi_better_auth import (
    BetterAuth,
    CookieVerifier,
    OriginCheck,
    Session,
    SharedSecret,
    SqlAlchemySessionStore,
    User,
)
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine(os.environ["DATABASE_URL"])
store = SqlAlchemySessionStore(engine=engine)
auth = BetterAuth(
    verifiers=[
        CookieVerifier(
            secret=SharedSecret(os.environ["BETTER_AUTH_SECRET"]),
            store=store,
            csrf=OriginCheck(allowed_origins=[os.environ["BETTER_AUTH_URL"]]),
            secure_cookies=False,
        )
    ]
)
CurrentSession = Annotated[Session[User], Depends(auth.current_session())]


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    await store.connect()
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/users/me")
async def me(session: CurrentSession) -> User:
    return session.user
