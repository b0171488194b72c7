"""The organization plugin's access control and member rules (pure: no database, no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.services.access import AccessControlError
from app.services.organizations.access import (
    DEFAULT_ORG_ACCESS,
    DEFAULT_ORG_STATEMENTS,
    join_roles,
    load_org_access,
    parse_org_access,
    parse_role_list,
)
from app.services.organizations.rules import (
    Removal,
    RoleChange,
    check_removal,
    check_role_change,
    permission_denied,
)
from app.utils.errors import AppError
from tests.support.organizations import CONFIG_FILE, Case, load_corpus

CASES = load_corpus()


class TestCorpus:
    @pytest.mark.parametrize("case", CASES, ids=lambda case: case.label)
    def test_evaluator_answers_as_expected(self, case: Case) -> None:
        access = load_org_access(CONFIG_FILE)
        assert access.has_permission(case.role, case.permissions) is case.expected

    def test_corpus_has_passes_and_refusals(self) -> None:
        assert any(case.expected for case in CASES)
        assert any(not case.expected for case in CASES)


class TestDefaults:
    def test_statements_are_better_auths(self) -> None:
        assert dict(DEFAULT_ORG_STATEMENTS) == {
            "organization": ("update", "delete"),
            "member": ("create", "update", "delete"),
            "invitation": ("create", "cancel"),
            "team": ("create", "update", "delete"),
            "ac": ("create", "read", "update", "delete"),
        }
        assert DEFAULT_ORG_ACCESS.role_names == {"owner", "admin", "member"}

    def test_admin_cannot_delete_the_organization(self) -> None:
        assert DEFAULT_ORG_ACCESS.has_permission("owner", {"organization": ["delete"]})
        assert not DEFAULT_ORG_ACCESS.has_permission("admin", {"organization": ["delete"]})

    def test_permissions_of_is_the_union_of_roles(self) -> None:
        granted = DEFAULT_ORG_ACCESS.permissions_of("member,admin")
        assert granted["member"] == ["create", "update", "delete"]
        assert granted["organization"] == ["update"]
        assert DEFAULT_ORG_ACCESS.permissions_of("member")["ac"] == ["read"]

    def test_owner_passes_everything_only_when_allowed(self) -> None:
        access = parse_org_access({"roles": {"owner": {"ac": ["read"]}}})
        assert not access.has_permission("owner", {"member": ["update"]})
        assert access.has_permission("owner", {"member": ["update"]}, allow_creator_all=True)
        assert not access.has_permission("admin", {"ac": ["nope"]}, allow_creator_all=True)
        assert not access.has_permission("owner", {}, allow_creator_all=True)


class TestRoleStrings:
    @pytest.mark.parametrize(
        ("stored", "roles"),
        [
            ("admin", ["admin"]),
            ("admin,member", ["admin", "member"]),
            ("admin, member", ["admin", "member"]),
            (" owner ,", ["owner"]),
            (",,", []),
            ("", []),
            (["admin", " owner"], ["admin", "owner"]),
            (["a,b", "c"], ["a", "b", "c"]),
            (None, []),
        ],
    )
    def test_parse_role_list_trims_and_drops_empty_parts(
        self, stored: str | list[str] | None, roles: list[str]
    ) -> None:
        assert parse_role_list(stored) == roles

    def test_join_roles_is_the_stored_form(self) -> None:
        assert join_roles(["admin", " member "]) == "admin,member"
        assert join_roles("admin, member") == "admin,member"


class TestConfiguration:
    def test_file_roles_replace_defaults_of_the_same_name(self) -> None:
        access = parse_org_access({"roles": {"member": {"member": ["create"]}}})
        assert access.has_permission("member", {"member": ["create"]})
        assert not access.has_permission("member", {"ac": ["read"]})
        assert access.has_permission("admin", {"member": ["update"]})

    def test_statements_merge_into_the_defaults(self) -> None:
        access = parse_org_access({"statements": {"member": ["export"], "project": ["create"]}})
        assert access.statements["member"] == ("create", "update", "delete", "export")
        assert access.statements["project"] == ("create",)

    @pytest.mark.parametrize(
        ("section", "message"),
        [
            ([], "organization: must be a JSON object"),
            ({"teams": {}}, "unknown key(s) teams"),
            ({"statements": {"project": "create"}}, "must be a list of action names"),
            ({"statements": {"": ["x"]}}, "resource '' must be a non-empty string"),
            ({"roles": {"x": {"project": ["create"]}}}, "roles.x.project: unknown resource"),
            ({"roles": {"x": {"member": ["promote"]}}}, "unknown action(s) promote"),
            ({"roles": {"a,b": {}}}, "a role name cannot contain ','"),
            ({"roles": {" a": {}}}, "role ' a' must be a non-empty string"),
            ({"roles": {"x": ["member"]}}, "roles.x: must be a JSON object"),
        ],
    )
    def test_bad_sections_name_the_entry(self, section: object, message: str) -> None:
        with pytest.raises(AccessControlError) as raised:
            parse_org_access(section)  # type: ignore[arg-type]
        assert message in str(raised.value)

    def test_load_names_the_file(self, tmp_path: Path) -> None:
        path = tmp_path / "access.json"
        path.write_text(json.dumps({"organization": {"roles": {"x": {"nope": ["a"]}}}}))
        with pytest.raises(AccessControlError, match=str(path)):
            load_org_access(path)

    def test_no_file_means_the_defaults(self) -> None:
        assert load_org_access(None) == DEFAULT_ORG_ACCESS


UPDATE = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER"
DELETE = "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"
ONLY_OWNER = "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER"


def _change(
    actor: str, target: str, requested: str | list[str], *, owners: int = 1, same: bool = False
) -> RoleChange:
    return RoleChange(
        actor_member_id="actor",
        actor_role=actor,
        target_member_id="actor" if same else "target",
        target_role=target,
        requested=requested,
        owner_count=owners,
    )


def _code(error: pytest.ExceptionInfo[AppError]) -> tuple[int, str]:
    return error.value.status, error.value.code


class TestUpdateMemberRole:
    @pytest.mark.parametrize(
        ("change", "stored"),
        [
            (_change("owner", "member", "admin"), ["admin"]),
            (_change("owner", "member", "owner"), ["owner"]),
            (_change("owner", "owner", "admin", owners=2), ["admin"]),
            (_change("admin", "member", ["admin", " member"]), ["admin", "member"]),
            (_change("owner", "owner", "admin", owners=2, same=True), ["admin"]),
            (_change("owner", "owner", "owner,admin", same=True), ["owner", "admin"]),
            (_change("member,admin", "member", "member"), ["member"]),
        ],
    )
    def test_allowed(self, change: RoleChange, stored: list[str]) -> None:
        assert check_role_change(DEFAULT_ORG_ACCESS, change) == stored

    @pytest.mark.parametrize(
        ("change", "status", "code"),
        [
            # Only an owner can make an owner, or change an owner.
            (_change("admin", "member", "owner"), 403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER"),
            (_change("admin", "owner", "admin"), 403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER"),
            (
                _change("admin", "member", ["admin", "owner"]),
                403,
                "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
            ),
            # The last owner cannot demote themself.
            (
                _change("owner", "owner", "admin", same=True),
                409,
                "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER",
            ),
            (
                _change("member", "member", "admin"),
                403,
                "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
            ),
            (_change("admin", "member", "ghost"), 422, "ROLE_NOT_FOUND"),
            (_change("admin", "member", " , "), 422, "ROLE_REQUIRED"),
            (_change("admin", "member", []), 422, "ROLE_REQUIRED"),
        ],
    )
    def test_refused(self, change: RoleChange, status: int, code: str) -> None:
        with pytest.raises(AppError) as raised:
            check_role_change(DEFAULT_ORG_ACCESS, change)
        assert _code(raised) == (status, code)

    def test_owner_passes_without_member_update_in_its_statements(self) -> None:
        access = parse_org_access({"roles": {"owner": {"ac": ["read"]}}})
        assert check_role_change(access, _change("owner", "member", "admin")) == ["admin"]

    def test_custom_roles_may_be_set(self) -> None:
        access = load_org_access(CONFIG_FILE)
        assert check_role_change(access, _change("admin", "member", "billing")) == ["billing"]


class TestRemoveMember:
    @pytest.mark.parametrize(
        "removal",
        [
            Removal("owner", "member", 1),
            Removal("admin", "member", 1),
            Removal("owner", "owner", 2),
            Removal("admin", "admin", 1),
        ],
    )
    def test_allowed(self, removal: Removal) -> None:
        check_removal(DEFAULT_ORG_ACCESS, removal)

    @pytest.mark.parametrize(
        ("removal", "status", "code"),
        [
            (Removal("admin", "owner", 2), 403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"),
            (
                Removal("owner", "owner", 1),
                409,
                "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
            ),
            (Removal("member", "member", 1), 403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"),
            (Removal("member", "owner", 1), 403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"),
        ],
    )
    def test_refused(self, removal: Removal, status: int, code: str) -> None:
        with pytest.raises(AppError) as raised:
            check_removal(DEFAULT_ORG_ACCESS, removal)
        assert _code(raised) == (status, code)

    def test_owner_needs_member_delete_to_remove(self) -> None:
        # No owner shortcut in remove-member (Better-Auth passes no allowCreatorAllPermissions).
        access = parse_org_access({"roles": {"owner": {"ac": ["read"]}}})
        with pytest.raises(AppError) as raised:
            check_removal(access, Removal("owner", "member", 1))
        assert raised.value.code == "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"


class TestPermissionDenied:
    def test_better_auths_code_for_its_own_checks(self) -> None:
        assert permission_denied({"member": ["delete"]}).code == (
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"
        )
        assert permission_denied({"team": ["create"]}).status == 403

    def test_generic_code_otherwise(self) -> None:
        error = permission_denied({"project": ["share"], "member": ["create"]})
        assert error.code == "INSUFFICIENT_PERMISSION"
        assert "project: share" in error.detail
