"""The access-control corpus: one configuration, subjects (user id + role string) and
permission requests, and which requests each subject passes. Our evaluator
(``tests/unit/test_access_control.py``) and the real Better-Auth server
(``tests/e2e/test_access_parity.py``) must both answer exactly ``expected``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONFIG_FILE = HERE / "access-control.json"
CORPUS_FILE = HERE / "corpus.json"


@dataclass(frozen=True)
class Subject:
    id: str
    user_id: str
    role: str | None


@dataclass(frozen=True)
class Case:
    subject: Subject
    request_id: str
    permissions: dict[str, list[str]]
    expected: bool

    @property
    def label(self) -> str:
        return f"{self.subject.id}:{self.request_id}"


def load_corpus() -> tuple[list[str], list[Case]]:
    """``(adminUserIds, cases)``: every subject crossed with every request."""
    data: dict[str, Any] = json.loads(CORPUS_FILE.read_text(encoding="utf-8"))
    subjects = [Subject(s["id"], s["userId"], s["role"]) for s in data["subjects"]]
    requests: dict[str, dict[str, list[str]]] = data["requests"]
    expected: dict[str, list[str]] = data["expected"]
    assert set(expected) == {s.id for s in subjects}, "every subject needs its expected list"
    cases = [
        Case(subject, request_id, permissions, request_id in expected[subject.id])
        for subject in subjects
        for request_id, permissions in requests.items()
    ]
    return list(data["adminUserIds"]), cases
