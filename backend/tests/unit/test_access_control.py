"""The access-control evaluator and its configuration (pure: no database, no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.services.access import (
    DEFAULT_STATEMENTS,
    AccessControlError,
    load_access_control,
    parse_access_control,
)
from app.services.access.requirements import (
    BAN_USER,
    SET_EMAIL,
    SET_ROLE,
    UPDATE_USER,
    update_requirements,
)
from tests.support.access import CONFIG_FILE, Case, load_corpus

ADMIN_USER_IDS, CASES = load_corpus()


class TestCorpus:
    @pytest.mark.parametrize("case", CASES, ids=lambda case: case.label)
    def test_evaluator_answers_as_expected(self, case: Case) -> None:
        access = load_access_control(CONFIG_FILE, admin_user_ids=ADMIN_USER_IDS)
        decision = access.has_permission(case.subject.user_id, case.subject.role, case.permissions)
        assert decision is case.expected

    def test_corpus_covers_the_interesting_kinds(self) -> None:
        roles = {case.subject.role for case in CASES}
        assert {"moderator", "moderator,support", "ghost", "", None} <= roles
        assert any(case.subject.user_id in ADMIN_USER_IDS for case in CASES)
        assert any(not case.expected for case in CASES)
        assert any(case.expected for case in CASES)


class TestDefaults:
    def test_better_auth_defaults_without_a_file(self) -> None:
        access = parse_access_control(None)
        assert set(access.role_names) == {"admin", "user"}
        assert DEFAULT_STATEMENTS["user"][-1] == "update"
        admin = access.roles["admin"].as_dict()
        assert "impersonate-admins" not in admin["user"]
        assert len(admin["user"]) == len(DEFAULT_STATEMENTS["user"]) - 1
        assert admin["session"] == ["delete", "list", "revoke"]
        assert access.roles["user"].as_dict() == {"user": [], "session": []}

    def test_admin_passes_admin_actions_user_passes_none(self) -> None:
        access = parse_access_control(None)
        assert access.has_permission("u1", "admin", {"user": ["ban", "set-role"]})
        assert not access.has_permission("u1", "admin", {"user": ["impersonate-admins"]})
        assert not access.has_permission("u1", "user", {"user": ["get"]})
        assert not access.has_permission("u1", None, {"session": ["list"]})

    def test_admin_user_ids_pass_everything_even_unknown_resources(self) -> None:
        access = parse_access_control(None, admin_user_ids=["root"])
        assert access.has_permission("root", "user", {"anything": ["at-all"]})
        assert access.has_permission("root", None, {})
        assert not access.has_permission("other", "user", {"user": ["list"]})

    def test_roles_are_split_without_trimming(self) -> None:
        access = parse_access_control(None)
        assert access.has_permission("u", "user,admin", {"user": ["list"]})
        assert not access.has_permission("u", "user, admin", {"user": ["list"]})

    def test_refusal_messages_are_better_auths(self) -> None:
        admin = parse_access_control(None).roles["admin"]
        assert admin.authorize({"nope": ["x"]}).error == (
            "You are not allowed to access resource: nope"
        )
        assert admin.authorize({"user": ["fly"]}).error == 'unauthorized to access resource "user"'
        assert admin.authorize({}).error == "Not authorized"
        assert admin.authorize({"user": []}).success is False


class TestEffectivePermissions:
    def test_union_of_roles_in_statement_order(self) -> None:
        access = load_access_control(CONFIG_FILE)
        granted = access.permissions_of("u", "moderator,support")
        assert granted["user"] == ["list", "ban", "impersonate", "set-password", "get"]
        assert granted["session"] == ["list", "revoke"]
        assert granted["project"] == []
        assert granted["report"] == []

    def test_unknown_roles_grant_nothing(self) -> None:
        access = load_access_control(CONFIG_FILE)
        assert all(not actions for actions in access.permissions_of("u", "ghost").values())

    def test_admin_user_ids_get_every_statement(self) -> None:
        access = load_access_control(CONFIG_FILE, admin_user_ids=["root"])
        granted = access.permissions_of("root", None)
        assert granted["user"] == list(access.statements["user"])
        assert "impersonate-admins" in granted["user"]
        assert "export" in granted["user"]


class TestFile:
    def test_statements_merge_and_file_roles_replace_defaults(self) -> None:
        access = load_access_control(CONFIG_FILE)
        assert access.statements["user"][-1] == "export"  # appended to the defaults
        assert access.statements["project"] == ("create", "read", "share", "delete")
        # "user" is redefined by the file; "admin" keeps Better-Auth's default.
        assert access.roles["user"].as_dict()["project"] == ["read"]
        assert "ban" in access.roles["admin"].as_dict()["user"]
        assert access.organization == {"roles": {"auditor": {"organization": ["read"]}}}

    @pytest.mark.parametrize(
        ("document", "message"),
        [
            ([], "the file: must be a JSON object"),
            ({"rolez": {}}, "unknown key(s) rolez; expected statements, roles, organization"),
            ({"statements": {"x": "read"}}, "statements.x: must be a list of action names"),
            ({"statements": {"x": [""]}}, "statements.x: action '' must be a non-empty string"),
            ({"roles": {"m": {"ghost": ["x"]}}}, "roles.m.ghost: unknown resource"),
            ({"roles": {"m": {"user": ["fly"]}}}, "roles.m.user: unknown action(s) fly"),
            ({"roles": {"a,b": {}}}, "roles.a,b: a role name cannot contain ','"),
            ({"roles": {" m": {}}}, "roles: role ' m' must be a non-empty string"),
            ({"roles": {"m": []}}, "roles.m: must be a JSON object"),
            ({"organization": "x"}, "organization: must be a JSON object"),
        ],
    )
    def test_bad_documents_name_the_fault(self, document: object, message: str) -> None:
        with pytest.raises(AccessControlError) as raised:
            parse_access_control(document)
        assert message in str(raised.value)

    def test_unreadable_and_invalid_json_name_the_file(self, tmp_path: Path) -> None:
        missing = tmp_path / "missing.json"
        with pytest.raises(AccessControlError, match=r"missing\.json: cannot be read"):
            load_access_control(missing)
        broken = tmp_path / "broken.json"
        broken.write_text("{", encoding="utf-8")
        with pytest.raises(AccessControlError, match=r"broken\.json: not valid JSON"):
            load_access_control(broken)
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"roles": {"m": {"user": ["fly"]}}}), encoding="utf-8")
        with pytest.raises(AccessControlError, match=r"bad\.json: roles\.m\.user: unknown action"):
            load_access_control(bad)


class TestUpdateRequirements:
    def test_fields_add_their_checks_in_better_auths_order(self) -> None:
        assert update_requirements({"name"}) == [UPDATE_USER]
        checks = update_requirements({"email_verified", "banned", "role", "ban_reason"})
        assert checks == [UPDATE_USER, SET_ROLE, BAN_USER, SET_EMAIL]
