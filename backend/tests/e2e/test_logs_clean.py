"""No credential ever reaches the API's logs: a full run of real traffic (every credential form
Better-Auth hands out, accepted and refused, admin actions, introspection) at DEBUG, then the
API process's whole log is searched for token material."""

from __future__ import annotations

import pytest

from tests.e2e.stack import Environment

pytestmark = pytest.mark.e2e


def test_api_logs_hold_no_token_material(e2e: Environment) -> None:
    with e2e.stack(api_env={"LOG_LEVEL": "DEBUG"}) as stack:
        admin = stack.better_auth.sign_up(name="Log Admin")
        user = stack.better_auth.sign_up(name="Log User")
        stack.database.execute("UPDATE \"user\" SET role = 'admin' WHERE id = $1", admin.user_id)
        jwt = stack.better_auth.token(user.session_token)
        admin_jwt = stack.better_auth.token(admin.session_token)
        secrets_seen = {
            "jwt": jwt,
            "jwt signature": jwt.rsplit(".", 1)[1],
            "jwt payload": jwt.split(".")[1],
            "admin jwt": admin_jwt,
            "session token": user.bare_token,
            "signed session token": user.session_token,
            "session signature": user.session_token.split(".", 1)[1],
            "cookie": user.cookie,
            "secret": e2e.secret,
        }
        for credential in (jwt, user.session_token, user.bare_token):
            assert stack.api_get("/api/v1/auth/me", token=credential).status_code == 200
        cookie = f"better-auth.session_token={user.cookie}"
        assert stack.api_get("/api/v1/users/me", cookie=cookie).status_code == 200
        # Refused credentials: tampered, truncated, the wrong secret, garbage.
        for credential in (jwt[:-4] + "AAAA", jwt[: len(jwt) // 2], user.bare_token + ".x", "x"):
            assert stack.api_get("/api/v1/auth/me", token=credential).status_code == 401
        for token in (jwt, user.session_token, jwt[:-4] + "AAAA"):
            response = stack.api_request("POST", "/api/v1/auth/verify", json_body={"token": token})
            assert response.status_code == 200
        stack.api_get("/api/v1/users", token=admin_jwt)
        stack.api_request(
            "POST", f"/api/v1/users/{user.user_id}/ban", token=admin_jwt, json_body={}
        )
        stack.api_get(f"/api/v1/users/{user.user_id}/sessions", token=admin_jwt)
        stack.api_get("/api/v1/auth/me", token=jwt)
        assert stack.api.log_path is not None
        stack.api.stop()
        log = stack.api.log_path.read_text(errors="replace")
    assert "request" in log  # the log is there, one line per request
    leaked = [name for name, value in secrets_seen.items() if value and value in log]
    assert not leaked, f"token material in the API log: {leaked}"
