"""Either side may migrate the shared database first: the other then has nothing left to do.

Better-Auth is asked with dynamic access control on (``ORGANIZATION_DYNAMIC_ROLES``): the schema our
migrations create includes its ``organizationRole`` table. Without the option Better-Auth ignores
that table, so its plan is empty either way."""

from __future__ import annotations

import httpx
import pytest
from alembic.script import ScriptDirectory

from devstack.processes import alembic_upgrade, auth_server_migrate, auth_server_migration_plan
from tests.e2e.better_auth import BetterAuthClient, bearer, jwt_claims
from tests.e2e.stack import Environment
from tests.support.database import alembic_config
from tests.support.schema import BETTER_AUTH_TABLES

pytestmark = pytest.mark.e2e

DYNAMIC_ROLES = {"ORGANIZATION_DYNAMIC_ROLES": "true"}
NOTHING_TO_DO = {
    "toBeCreated": [],
    "toBeAdded": [],
    "toBeAddedIndexes": [],
    "unsafeChanges": [],
    "schemaProblems": [],
}


def test_better_auth_has_nothing_to_do_after_alembic(e2e: Environment) -> None:
    with e2e.database(migration="none") as database:
        before = auth_server_migration_plan(database.dsn, e2e.secret, **DYNAMIC_ROLES)
        assert set(before["toBeCreated"]) == set(BETTER_AUTH_TABLES)

        alembic_upgrade(database.url)

        assert (
            auth_server_migration_plan(database.dsn, e2e.secret, **DYNAMIC_ROLES) == NOTHING_TO_DO
        )
        assert auth_server_migration_plan(database.dsn, e2e.secret) == NOTHING_TO_DO


def test_alembic_after_better_auth_with_dynamic_roles(e2e: Environment) -> None:
    """Better-Auth created ``organizationRole`` itself: revision 0009 leaves it as it is and adds
    only its trigger."""
    with e2e.database(migration="none") as database:
        auth_server_migrate(database.dsn, e2e.secret, **DYNAMIC_ROLES)
        alembic_upgrade(database.url)
        assert (
            auth_server_migration_plan(database.dsn, e2e.secret, **DYNAMIC_ROLES) == NOTHING_TO_DO
        )
        triggers = database.fetch(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = '\"organizationRole\"'::regclass "
            "AND NOT tgisinternal"
        )
        assert triggers == [{"tgname": "organization_role_identity_notify"}]


def test_alembic_and_the_api_work_after_better_auth_migrated_first(e2e: Environment) -> None:
    with e2e.database(migration="better-auth") as database:
        alembic_upgrade(database.url)  # must succeed on Better-Auth's own schema
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert database.fetch("SELECT version_num FROM alembic_version") == [{"version_num": head}]
        # Alembic added only what is its own (and organizationRole, the table Better-Auth creates
        # with dynamic roles): Better-Auth still sees exactly its schema, with or without them.
        assert auth_server_migration_plan(database.dsn, e2e.secret) == NOTHING_TO_DO
        assert (
            auth_server_migration_plan(database.dsn, e2e.secret, **DYNAMIC_ROLES) == NOTHING_TO_DO
        )

        with (
            e2e.auth_server(database) as auth,
            e2e.api_server(database, auth) as api,
        ):
            better_auth = BetterAuthClient(auth.url)
            signed_up = better_auth.sign_up()
            jwt = better_auth.token(signed_up.session_token)
            assert jwt_claims(jwt)["sub"] == signed_up.user_id

            response = httpx.get(f"{api.url}/api/v1/auth/me", headers=bearer(jwt), timeout=10)
            assert response.status_code == 200, response.text
            assert response.json()["id"] == signed_up.user_id
            assert response.json()["email"] == signed_up.email
