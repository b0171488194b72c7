"""``fastapi-better-auth-bridge`` 0.6.0, mode B (JWT verified against Better-Auth's JWKS): the
package's quickstart, ``BetterAuth.from_env()`` (it reads ``BETTER_AUTH_URL``: the required
``iss`` and ``aud`` and the JWKS origin) and ``Depends(auth.current_session())``."""

from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi_better_auth import BetterAuth, Session, User

auth = BetterAuth.from_env()
CurrentSession = Annotated[Session[User], Depends(auth.current_session())]

app = FastAPI()


@app.get("/users/me")
async def me(session: CurrentSession) -> User:
    return session.user
