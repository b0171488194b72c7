"""Organizations made on the real Better-Auth (organization plugin, teams, custom roles from the
shared ACCESS_CONTROL_FILE, dynamic roles with ORGANIZATION_DYNAMIC_ROLES on both servers) and
served by the API, over HTTP only: what Better-Auth creates the API sees; what the API changes
Better-Auth shows; a member Better-Auth removes is refused by the API within a second; a role
Better-Auth creates, changes or deletes answers the same on both sides within a second; an
outsider learns nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.better_auth import SignedIn, error_code, unique_email
from tests.e2e.stack import Environment, Stack
from tests.e2e.versions import before
from tests.support.organizations import CONFIG_FILE

pytestmark = pytest.mark.e2e

ORGS = "/api/v1/organizations"


@pytest.fixture(scope="module")
def stack(e2e: Environment) -> Iterator[Stack]:
    shared = {"ACCESS_CONTROL_FILE": str(CONFIG_FILE), "ORGANIZATION_DYNAMIC_ROLES": "true"}
    with e2e.stack(auth_env=shared, api_env=shared) as running:
        yield running


def ba(stack: Stack, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
    return stack.better_auth.request(
        method, f"/api/auth/organization/{path}", token=token, json_body=body
    )


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class Org:
    id: str
    owner: SignedIn
    member: SignedIn
    member_id: str


def organization_with_member(stack: Stack) -> Org:
    """An owner creates an organization; a second user is invited and accepts: Better-Auth only."""
    owner = stack.better_auth.sign_up(unique_email("owner"), name="Owner")
    slug = unique_email("org").split("@")[0].replace(".", "-").replace("+", "-")
    organization = ok(
        ba(stack, "POST", "create", owner.session_token, {"name": "Acme", "slug": slug})
    )
    member = stack.better_auth.sign_up(unique_email("member"), name="Member")
    invitation = ok(
        ba(
            stack,
            "POST",
            "invite-member",
            owner.session_token,
            {"email": member.email, "role": "member", "organizationId": organization["id"]},
        )
    )
    accepted = ok(
        ba(
            stack,
            "POST",
            "accept-invitation",
            member.session_token,
            {"invitationId": invitation["id"]},
        )
    )
    return Org(organization["id"], owner, member, accepted["member"]["id"])


def full_organization(stack: Stack, org: Org) -> dict[str, Any]:
    answer: dict[str, Any] = ok(
        ba(stack, "GET", f"get-full-organization?organizationId={org.id}", org.owner.session_token)
    )
    return answer


def test_what_better_auth_creates_the_api_sees(stack: Stack) -> None:
    org = organization_with_member(stack)
    for who, role in ((org.owner, "owner"), (org.member, "member")):
        listed = ok(stack.api_get(ORGS, token=who.session_token))["organizations"]
        assert [(o["id"], o["name"], o["role"]) for o in listed] == [(org.id, "Acme", role)]
        jwt = stack.better_auth.token(who.session_token)
        one = ok(stack.api_get(f"{ORGS}/{org.id}", token=jwt))
        assert one["role"] == role
    members = ok(stack.api_get(f"{ORGS}/{org.id}/members", token=org.member.session_token))
    assert members["total"] == 2
    assert {m["user"]["email"] for m in members["members"]} == {org.owner.email, org.member.email}
    # The same member rows Better-Auth lists.
    theirs = full_organization(stack, org)["members"]
    assert {(m["id"], m["role"]) for m in theirs} == {
        (m["id"], m["role"]) for m in members["members"]
    }


def test_a_role_set_by_the_api_is_what_better_auth_shows(stack: Stack) -> None:
    org = organization_with_member(stack)
    response = stack.api_request(
        "PATCH",
        f"{ORGS}/{org.id}/members/{org.member_id}",
        token=org.owner.session_token,
        json_body={"role": ["billing", "member"]},
    )
    assert ok(response)["role"] == "billing,member"
    [member] = [m for m in full_organization(stack, org)["members"] if m["id"] == org.member_id]
    assert member["role"] == "billing,member"
    # Better-Auth, configured from the same file, now grants the custom role's permissions...
    allowed = ba(
        stack,
        "POST",
        "has-permission",
        org.member.session_token,
        {"permissions": {"project": ["share"]}, "organizationId": org.id},
    )
    assert ok(allowed)["success"] is True
    # ...and the API's own view changed at once.
    assert ok(stack.api_get(f"{ORGS}/{org.id}", token=org.member.session_token))["role"] == (
        "billing,member"
    )


def test_the_last_owner_rule_on_both_sides(stack: Stack) -> None:
    org = organization_with_member(stack)
    owner_member = next(
        m for m in full_organization(stack, org)["members"] if m["userId"] == org.owner.user_id
    )
    api = stack.api_request(
        "PATCH",
        f"{ORGS}/{org.id}/members/{owner_member['id']}",
        token=org.owner.session_token,
        json_body={"role": "admin"},
    )
    theirs = ba(
        stack,
        "POST",
        "update-member-role",
        org.owner.session_token,
        {"memberId": owner_member["id"], "role": "admin", "organizationId": org.id},
    )
    assert (api.status_code, theirs.status_code) == (409, 400)
    assert (
        error_code(api)
        == error_code(theirs)
        == "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER"
    )
    # A member cannot make an owner, on either side.
    api = stack.api_request(
        "PATCH",
        f"{ORGS}/{org.id}/members/{org.member_id}",
        token=org.member.session_token,
        json_body={"role": "owner"},
    )
    theirs = ba(
        stack,
        "POST",
        "update-member-role",
        org.member.session_token,
        {"memberId": org.member_id, "role": "owner", "organizationId": org.id},
    )
    assert api.status_code == theirs.status_code == 403
    assert error_code(api) == error_code(theirs) == "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER"


def test_a_member_removed_by_better_auth_is_refused_within_a_second(stack: Stack) -> None:
    org = organization_with_member(stack)
    url = f"{ORGS}/{org.id}"
    jwt = stack.better_auth.token(org.member.session_token)
    assert stack.api_get(url, token=org.member.session_token).status_code == 200
    assert stack.api_get(url, token=jwt).status_code == 200  # both cached now
    ok(
        ba(
            stack,
            "POST",
            "remove-member",
            org.owner.session_token,
            {"memberIdOrEmail": org.member_id, "organizationId": org.id},
        )
    )
    removed_at = time.monotonic()
    while True:
        session = stack.api_get(url, token=org.member.session_token).status_code
        token = stack.api_get(url, token=jwt).status_code
        if session == token == 404:
            break
        assert time.monotonic() - removed_at < 1.0, (session, token)
        time.sleep(0.02)
    listed = ok(stack.api_get(ORGS, token=org.member.session_token))
    assert listed == {"organizations": []}


def test_a_member_removed_by_the_api_is_gone_for_better_auth(stack: Stack) -> None:
    org = organization_with_member(stack)
    response = stack.api_request(
        "DELETE", f"{ORGS}/{org.id}/members/{org.member_id}", token=org.owner.session_token
    )
    assert response.status_code == 204, response.text
    assert [m["userId"] for m in full_organization(stack, org)["members"]] == [org.owner.user_id]
    refused = ba(
        stack, "GET", f"get-full-organization?organizationId={org.id}", org.member.session_token
    )
    assert refused.status_code == 403


def test_an_outsider_learns_nothing(stack: Stack) -> None:
    org = organization_with_member(stack)
    outsider = stack.better_auth.sign_up(unique_email("outsider"), name="Outsider")
    token = outsider.session_token
    assert ok(stack.api_get(ORGS, token=token)) == {"organizations": []}
    calls = [
        ("GET", ""),
        ("GET", "/members"),
        ("GET", "/members?search=owner"),
        ("PATCH", f"/members/{org.member_id}"),
        ("DELETE", f"/members/{org.member_id}"),
    ]
    for method, suffix in calls:
        body = {"role": "owner"} if method == "PATCH" else None
        real = stack.api_request(method, f"{ORGS}/{org.id}{suffix}", token=token, json_body=body)
        fake = stack.api_request(method, f"{ORGS}/{'x' * 32}{suffix}", token=token, json_body=body)
        assert real.status_code == fake.status_code == 404, (method, suffix, real.text)
        strip = {"instance", "requestId"}
        assert {k: v for k, v in real.json().items() if k not in strip} == {
            k: v for k, v in fake.json().items() if k not in strip
        }
        assert org.member.email not in real.text
        assert "Acme" not in real.text
    # Nothing changed.
    roles = {m["id"]: m["role"] for m in full_organization(stack, org)["members"]}
    assert roles[org.member_id] == "member"


def test_better_auth_creates_teams_on_our_schema(stack: Stack) -> None:
    """Better-Auth 1.6 never writes ``team.memberCount``: before revision 0008's default it
    answered 500 here, after writing the organization and its owner."""
    org = organization_with_member(stack)
    created = ok(
        ba(
            stack,
            "POST",
            "create-team",
            org.owner.session_token,
            {"name": "Core", "organizationId": org.id},
        )
    )
    rows = stack.database.fetch(
        'SELECT id, "memberCount" FROM team WHERE "organizationId" = $1', org.id
    )
    counts = {row["id"]: row["memberCount"] for row in rows}
    # The new team has no member yet. The default team (made with the organization) holds the
    # owner: 1.7 counts them, 1.6 leaves the column to its default.
    assert counts.pop(created["id"]) == 0
    assert list(counts.values()) == [0 if before(1, 7) else 1]


# Permission sets asked on both sides: single actions, a request two roles would have to share,
# the static part of a merged role, a resource no role has, the empty forms.
PERMISSION_SETS: list[dict[str, list[str]]] = [
    {"member": ["update"]},
    {"invitation": ["create"]},
    {"member": ["update"], "invitation": ["create"]},
    {"member": ["delete"]},
    {"ac": ["read"]},
    {"ac": ["read"], "member": ["update"]},
    {"project": ["share"]},
    {"organization": ["update"]},
    {"unknown": ["x"]},
    {"team": []},
    {},
]


def their_answers(stack: Stack, who: SignedIn, org: Org) -> list[bool]:
    answers = []
    for permissions in PERMISSION_SETS:
        body = {"permissions": permissions, "organizationId": org.id}
        answers.append(
            bool(ok(ba(stack, "POST", "has-permission", who.session_token, body))["success"])
        )
    return answers


def our_answers(stack: Stack, token: str, org: Org, member_id: str | None = None) -> list[bool]:
    path = f"{ORGS}/{org.id}" + (f"/members/{member_id}" if member_id else "") + "/has-permission"
    return [
        bool(
            ok(stack.api_request("POST", path, token=token, json_body={"permissions": p}))[
                "success"
            ]
        )
        for p in PERMISSION_SETS
    ]


def assert_parity(stack: Stack, org: Org) -> list[bool]:
    """The member's answers from Better-Auth, and ours: for the member's session, its JWT, and
    the owner asking about the member."""
    theirs = their_answers(stack, org.member, org)
    jwt = stack.better_auth.token(org.member.session_token)
    assert our_answers(stack, org.member.session_token, org) == theirs
    assert our_answers(stack, jwt, org) == theirs
    assert our_answers(stack, org.owner.session_token, org, org.member_id) == theirs
    return theirs


def until_parity(stack: Stack, org: Org, expected: list[bool]) -> None:
    """Better-Auth answers ``expected`` at once; ours must follow within a second."""
    assert their_answers(stack, org.member, org) == expected
    changed_at = time.monotonic()
    while our_answers(stack, org.member.session_token, org) != expected:
        assert time.monotonic() - changed_at < 1.0, "not honoured within a second"
        time.sleep(0.02)
    assert_parity(stack, org)


def answers(**granted: bool) -> list[bool]:
    """The expected answers by PERMISSION_SETS index (``s0=True``...); the rest False."""
    return [granted.get(f"s{index}", False) for index in range(len(PERMISSION_SETS))]


def test_dynamic_roles_answer_as_better_auth_does(stack: Stack) -> None:
    org = organization_with_member(stack)
    # The static member role alone: ac read.
    assert assert_parity(stack, org) == answers(s4=True)
    created = ba(
        stack,
        "POST",
        "create-role",
        org.owner.session_token,
        {
            "organizationId": org.id,
            "role": "Support",  # stored lower-cased, as the role to assign
            "permission": {"member": ["update"], "invitation": ["create"]},
        },
    )
    assert ok(created)["roleData"]["role"] == "support"
    assigned = ba(
        stack,
        "POST",
        "update-member-role",
        org.owner.session_token,
        {"memberId": org.member_id, "role": ["member", "support"], "organizationId": org.id},
    )
    assert ok(assigned)["role"] == "member,support"
    # Both roles count, each alone: a request needing both (s5) fails on both sides.
    expected = answers(s0=True, s1=True, s2=True, s4=True)
    until_parity(stack, org, expected)
    # update-role: what the role grants changes, and every replica follows within a second.
    ok(
        ba(
            stack,
            "POST",
            "update-role",
            org.owner.session_token,
            {
                "organizationId": org.id,
                "roleName": "support",
                "data": {"permission": {"invitation": ["create"]}},
            },
        )
    )
    until_parity(stack, org, answers(s1=True, s4=True))


def test_a_row_named_like_a_static_role_is_merged_with_it(stack: Stack) -> None:
    """Better-Auth's create-role refuses the static roles' names, but its ``hasPermission``
    merges any row of that name (the union of statements): a row written by other means."""
    org = organization_with_member(stack)
    stack.database.execute(
        'INSERT INTO "organizationRole" (id, "organizationId", role, permission, "createdAt") '
        "VALUES ($1, $2, 'member', $3, now())",
        f"merged-{org.id}",
        org.id,
        '{"member": ["delete"], "project": ["share"]}',
    )
    until_parity(stack, org, answers(s3=True, s4=True, s6=True))


def test_the_api_changes_members_to_dynamic_roles_and_honours_their_deletion(
    stack: Stack,
) -> None:
    org = organization_with_member(stack)
    role = {"organizationId": org.id, "role": "auditor", "permission": {"ac": ["read"]}}
    ok(ba(stack, "POST", "create-role", org.owner.session_token, role))
    url = f"{ORGS}/{org.id}/members/{org.member_id}"
    response = stack.api_request(
        "PATCH", url, token=org.owner.session_token, json_body={"role": "auditor"}
    )
    assert ok(response)["role"] == "auditor"
    [member] = [m for m in full_organization(stack, org)["members"] if m["id"] == org.member_id]
    assert member["role"] == "auditor"
    assert_parity(stack, org)
    # Better-Auth deletes only roles nobody holds: give the member its static role back first.
    back = {"role": "member"}
    assert ok(stack.api_request("PATCH", url, token=org.owner.session_token, json_body=back))
    deleted = {"organizationId": org.id, "roleName": "auditor"}
    ok(ba(stack, "POST", "delete-role", org.owner.session_token, deleted))
    # The deleted role is no role any more, on both sides.
    api = stack.api_request(
        "PATCH", url, token=org.owner.session_token, json_body={"role": "auditor"}
    )
    theirs = ba(
        stack,
        "POST",
        "update-member-role",
        org.owner.session_token,
        {"memberId": org.member_id, "role": "auditor", "organizationId": org.id},
    )
    assert (api.status_code, theirs.status_code) == (422, 400)
    assert error_code(api) == error_code(theirs) == "ROLE_NOT_FOUND"
    assert_parity(stack, org)


def test_only_members_managers_ask_about_another_member(stack: Stack) -> None:
    org = organization_with_member(stack)
    owner_member = next(
        m for m in full_organization(stack, org)["members"] if m["userId"] == org.owner.user_id
    )
    response = stack.api_request(
        "POST",
        f"{ORGS}/{org.id}/members/{owner_member['id']}/has-permission",
        token=org.member.session_token,
        json_body={"permissions": {"organization": ["delete"]}},
    )
    assert response.status_code == 403
    assert error_code(response) == "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER"
    bad = stack.api_request(
        "POST",
        f"{ORGS}/{org.id}/has-permission",
        token=org.member.session_token,
        json_body={"permissions": {"member": "update"}},
    )
    assert (bad.status_code, error_code(bad)) == (422, "VALIDATION_ERROR")
