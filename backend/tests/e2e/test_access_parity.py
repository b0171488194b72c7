"""The real Better-Auth server, configured from the same ACCESS_CONTROL_FILE and ADMIN_USER_IDS
as the API, answers the whole access-control corpus exactly as our evaluator does: through its
own ``POST /api/auth/admin/has-permission`` and through the API's
``POST /api/v1/users/has-permission``, for the same signed-in user, case by case."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.access import insert_user
from tests.e2e.better_auth import bearer
from tests.e2e.stack import Environment, Stack
from tests.support.access import CONFIG_FILE, Case, load_corpus

pytestmark = pytest.mark.e2e

ADMIN_USER_IDS, CASES = load_corpus()
SUBJECTS = {case.subject.id: case.subject for case in CASES}


@dataclass(frozen=True)
class Parity:
    stack: Stack
    tokens: dict[str, str]  # subject id -> Better-Auth session token (bearer)


@pytest.fixture(scope="module")
def parity(e2e: Environment) -> Iterator[Parity]:
    shared = {"ACCESS_CONTROL_FILE": str(CONFIG_FILE), "ADMIN_USER_IDS": ",".join(ADMIN_USER_IDS)}
    with e2e.stack(auth_env=shared, api_env=shared) as stack:
        tokens = {}
        for subject in SUBJECTS.values():
            email = insert_user(stack.database, subject.user_id, subject.role)
            tokens[subject.id] = stack.better_auth.sign_in(email).session_token
        yield Parity(stack, tokens)


def _answer(http: httpx.Client, path: str, token: str, case: Case) -> bool:
    response = http.post(path, headers=bearer(token), json={"permissions": case.permissions})
    assert response.status_code == 200, f"{case.label}: {response.text}"
    body = response.json()
    assert body["error"] is None
    return bool(body["success"])


def _disagreements(base_url: str, path: str, tokens: dict[str, str]) -> list[str]:
    # One keep-alive connection for the ~400 calls.
    with httpx.Client(base_url=base_url, timeout=10.0, trust_env=False) as http:
        return [
            f"{case.label}: expected {case.expected}"
            for case in CASES
            if _answer(http, path, tokens[case.subject.id], case) is not case.expected
        ]


def test_better_auth_answers_the_corpus_as_our_evaluator(parity: Parity) -> None:
    wrong = _disagreements(parity.stack.auth.url, "/api/auth/admin/has-permission", parity.tokens)
    assert not wrong, "\n".join(wrong)


def test_the_api_answers_the_corpus_as_better_auth(parity: Parity) -> None:
    """The same users, the same Better-Auth session tokens, asked through the API."""
    wrong = _disagreements(parity.stack.api.url, "/api/v1/users/has-permission", parity.tokens)
    assert not wrong, "\n".join(wrong)
