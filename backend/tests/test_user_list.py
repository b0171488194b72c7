"""GET /api/v1/users: search, filters, sort, pagination (ours and the admin plugin's names);
GET /api/v1/audit-events; and the page query's plan on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User
from app.services.users.query import UserListQuery, escape_like, page_statement
from tests.support.factories import create_session, create_user

BASE = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def people(db_session: AsyncSession) -> dict[str, User]:
    specs = [
        ("admin", "Root Admin", "root@example.com", "admin", False),
        ("ada", "Ada Lovelace", "ada@math.example.org", "user", False),
        ("alan", "Alan Turing", "alan@math.example.org", "user,admin", False),
        ("grace", "Grace Hopper", "grace@navy.example.mil", "user", True),
        ("pct", "Percent 100%", "100%_sure@example.com", "user", False),
        ("under", "Under_score", "under_score@example.com", "user", False),
        ("quote", "O'Brien", "obrien@example.com", None, None),
    ]
    out: dict[str, User] = {}
    for index, (key, name, email, role, banned) in enumerate(specs):
        out[key] = await create_user(
            db_session,
            name=name,
            email=email,
            role=role,
            banned=banned,
            created_at=BASE + timedelta(days=index),
        )
    return out


@pytest.fixture
async def headers(db_session: AsyncSession, people: dict[str, User]) -> dict[str, str]:
    session = await create_session(db_session, people["admin"])
    return {"Authorization": f"Bearer {session.token}"}


async def names(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = await client.get("/api/v1/users", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [user["name"] for user in response.json()["users"]]


class TestListShape:
    async def test_page_shape(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, User]
    ) -> None:
        response = await client.get("/api/v1/users", headers=headers)
        body = response.json()
        assert set(body) == {"users", "total", "limit", "offset"}
        assert body["total"] == 7
        assert (body["limit"], body["offset"]) == (20, 0)
        assert body["users"][0]["name"] == "Root Admin"  # createdAt ascending by default

    async def test_pagination(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, User]
    ) -> None:
        first = await client.get("/api/v1/users", params={"limit": 3}, headers=headers)
        second = await client.get(
            "/api/v1/users", params={"limit": 3, "offset": 3}, headers=headers
        )
        beyond = await client.get(
            "/api/v1/users", params={"limit": 3, "offset": 30}, headers=headers
        )
        ids = [u["id"] for u in first.json()["users"] + second.json()["users"]]
        assert len(ids) == len(set(ids)) == 6
        assert first.json()["total"] == second.json()["total"] == 7
        assert beyond.json()["users"] == []
        assert beyond.json()["total"] == 7

    @pytest.mark.parametrize(
        "params",
        [
            {"limit": 0},
            {"limit": 101},
            {"offset": -1},
            {"sortBy": "password"},
            {"sortDirection": "up"},
            {"searchField": "role"},
            {"searchOperator": "regex"},
            {"banned": "maybe"},
            {"filterOperator": "like"},
            {"limit": "ten"},
        ],
    )
    async def test_bad_parameters_are_422(
        self, client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any]
    ) -> None:
        response = await client.get("/api/v1/users", params=params, headers=headers)
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR"
        assert body["errors"][0]["loc"][0] == "query"


class TestSearch:
    async def test_case_insensitive_substring_on_email_by_default(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, User]
    ) -> None:
        assert await names(client, headers, search="MATH") == ["Ada Lovelace", "Alan Turing"]

    async def test_search_by_name(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, User]
    ) -> None:
        assert await names(client, headers, search="hopper", searchField="name") == ["Grace Hopper"]

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("%", ["Percent 100%"]),
            ("_", ["Percent 100%", "Under_score"]),
            ("'", ["O'Brien"]),
            ("\\", []),
        ],
    )
    async def test_wildcards_match_themselves(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        people: dict[str, User],
        value: str,
        expected: list[str],
    ) -> None:
        field = "name" if value == "'" else "email"
        assert await names(client, headers, search=value, searchField=field) == expected

    async def test_admin_plugin_names(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, User]
    ) -> None:
        assert await names(
            client, headers, searchValue="a", searchField="name", searchOperator="starts_with"
        ) == ["Ada Lovelace", "Alan Turing"]
        assert await names(client, headers, searchValue=".org", searchOperator="ends_with") == [
            "Ada Lovelace",
            "Alan Turing",
        ]


class TestFilters:
    async def test_role_matches_one_of_the_roles(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, User]
    ) -> None:
        assert await names(client, headers, role="admin") == ["Root Admin", "Alan Turing"]

    async def test_banned(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, User]
    ) -> None:
        assert await names(client, headers, banned="true") == ["Grace Hopper"]
        assert "Grace Hopper" not in await names(client, headers, banned="false")
        assert "O'Brien" in await names(client, headers, banned="false")

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"filterField": "role", "filterValue": "user,admin"}, ["Alan Turing"]),
            ({"filterField": "banned", "filterValue": "true"}, ["Grace Hopper"]),
            (
                {"filterField": "email", "filterValue": "root@example.com", "filterOperator": "eq"},
                ["Root Admin"],
            ),
            (
                {
                    "filterField": "name",
                    "filterValue": "Ada Lovelace,Alan Turing",
                    "filterOperator": "in",
                },
                ["Ada Lovelace", "Alan Turing"],
            ),
            (
                {
                    "filterField": "createdAt",
                    "filterValue": "2026-01-06T00:00:00Z",
                    "filterOperator": "gte",
                },
                ["Under_score", "O'Brien"],
            ),
            (
                {"filterField": "name", "filterValue": "ring", "filterOperator": "contains"},
                ["Alan Turing"],
            ),
            (
                {"filterField": "role", "filterValue": "user", "filterOperator": "ne"},
                ["Root Admin", "Alan Turing"],
            ),
        ],
    )
    async def test_admin_plugin_filters(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        people: dict[str, User],
        params: dict[str, str],
        expected: list[str],
    ) -> None:
        assert await names(client, headers, **params) == expected

    @pytest.mark.parametrize(
        "params",
        [
            {"filterField": "password", "filterValue": "x"},
            {"filterField": "banned", "filterValue": "perhaps"},
            {"filterField": "createdAt", "filterValue": "yesterday"},
            {"filterField": "banned", "filterValue": "true", "filterOperator": "contains"},
        ],
    )
    async def test_bad_filters_are_422(
        self, client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str]
    ) -> None:
        response = await client.get("/api/v1/users", params=params, headers=headers)
        assert response.status_code == 422
        assert response.json()["code"] == "INVALID_FILTER"
        assert response.json()["errors"]

    async def test_combined(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, User]
    ) -> None:
        assert await names(
            client,
            headers,
            search="example",
            role="user",
            banned="false",
            sortBy="name",
            sortDirection="desc",
            limit=2,
        ) == ["Under_score", "Percent 100%"]


class TestSort:
    @pytest.mark.parametrize(
        ("sort_by", "direction", "first"),
        [
            ("createdAt", "desc", "O'Brien"),
            ("email", "asc", "Percent 100%"),
            ("name", "asc", "Ada Lovelace"),
            ("name", "desc", "Under_score"),
        ],
    )
    async def test_sort(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        people: dict[str, User],
        sort_by: str,
        direction: str,
        first: str,
    ) -> None:
        result = await names(client, headers, sortBy=sort_by, sortDirection=direction)
        assert result[0] == first
        assert len(result) == 7


class TestAuditEvents:
    async def test_newest_first_and_filters(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, User]
    ) -> None:
        ada, alan = people["ada"], people["alan"]
        await client.put(f"/api/v1/users/{ada.id}/role", json={"role": "admin"}, headers=headers)
        await client.post(f"/api/v1/users/{ada.id}/ban", json={}, headers=headers)
        await client.post(f"/api/v1/users/{alan.id}/ban", json={}, headers=headers)
        response = await client.get("/api/v1/audit-events", headers=headers)
        body = response.json()
        assert body["total"] == 3
        assert [e["action"] for e in body["events"]] == ["user.ban", "user.ban", "user.role.set"]
        assert body["events"][0]["createdAt"].endswith("Z")
        by_target = await client.get(
            "/api/v1/audit-events", params={"targetId": ada.id}, headers=headers
        )
        assert by_target.json()["total"] == 2
        by_action = await client.get(
            "/api/v1/audit-events",
            params={"action": "user.role.set", "limit": 1},
            headers=headers,
        )
        assert by_action.json()["events"][0]["targetId"] == ada.id
        by_actor = await client.get(
            "/api/v1/audit-events",
            params={"actorId": people["admin"].id, "offset": 2},
            headers=headers,
        )
        assert len(by_actor.json()["events"]) == 1

    async def test_append_only(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = await client.request(method, "/api/v1/audit-events", headers=headers)
            assert response.status_code == 405


def test_escape_like() -> None:
    assert escape_like("50%_a\\b") == "50\\%\\_a\\\\b"


@pytest.mark.postgres_only
async def test_created_at_page_does_not_scan_the_table(
    db_session: AsyncSession, dialect: str
) -> None:
    if dialect != "postgresql":
        pytest.skip("EXPLAIN plans are PostgreSQL's")
    await db_session.execute(
        text(
            'INSERT INTO "user" (id, name, email, "emailVerified", "createdAt", "updatedAt", '
            "role, banned) SELECT 'bulk' || g, 'Bulk ' || g, 'bulk' || g || '@example.com', "
            "false, now() - g * interval '1 minute', now(), 'user', false "
            "FROM generate_series(1, 20000) AS g"
        )
    )
    await db_session.execute(text('ANALYZE "user"'))
    # The question is whether an index can serve each query, not which plan the cost model
    # prefers on this run's statistics (on a small table it may cost a seq scan lower): with
    # sequential scans priced out, a "Seq Scan" in the plan means no index fits.
    await db_session.execute(text("SET LOCAL enable_seqscan = off"))
    for query in (
        UserListQuery(sort_by="createdAt", limit=20, offset=0),
        UserListQuery(sort_by="createdAt", sort_direction="desc", limit=20, offset=100),
        UserListQuery(search="bulk1999", limit=20),
    ):
        statement, values = page_statement(query)
        compiled = statement.params(values).compile(
            dialect=db_session.bind.dialect, compile_kwargs={"literal_binds": True}
        )
        plan = "\n".join((await db_session.execute(text(f"EXPLAIN {compiled}"))).scalars().all())
        assert "Seq Scan" not in plan, plan


def test_rendered_page_equals_the_model_dump() -> None:
    """The hand-assembled JSON is byte for byte what the declared UserPage would produce."""
    from app.routers.render import render_user_page
    from app.schemas.user import UserPage, UserRead
    from app.services.auth.snapshots import UserSnapshot

    users = [
        UserSnapshot(
            id=f"id{i}",
            name='Quote " and \\ back',
            email=f"u{i}@example.com",
            email_verified=bool(i % 2),
            image=None if i else "https://img/x.png",
            created_at=BASE + timedelta(milliseconds=i),
            updated_at=BASE,
            role="user",
            banned=None if i else True,
            ban_reason="é ünïcode",
            ban_expires=BASE,
        )
        for i in range(3)
    ]
    expected = UserPage(
        users=[UserRead.model_validate(u) for u in users], total=42, limit=3, offset=6
    ).model_dump_json()
    assert render_user_page(users, total=42, limit=3, offset=6) == expected.encode()
    assert render_user_page([], total=0, limit=20, offset=0) == (
        UserPage(users=[], total=0, limit=20, offset=0).model_dump_json().encode()
    )
