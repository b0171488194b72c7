"""``fastapi-betterauth`` 0.2.6: its README's setup, ``BetterAuth(base_url)`` as a dependency
(EdDSA, ``iss`` and ``aud`` = the base URL, the JWKS cached by PyJWT's ``PyJWKClient``) and a
plain ``def`` endpoint returning the claims, unannotated, as the README writes it."""

import os
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi_betterauth import BetterAuth, User

app = FastAPI()

better_auth = BetterAuth(os.environ["BETTER_AUTH_URL"])


@app.get("/users/me")
def me(user: Annotated[User, Depends(better_auth)]):  # unannotated, as in the README
    return user
