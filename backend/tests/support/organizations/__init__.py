"""The organization access-control corpus: a configuration (the ``"organization"`` section of
an ``ACCESS_CONTROL_FILE``), member role strings and permission requests, and which requests
each role string passes, as Better-Auth's organization plugin decides."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONFIG_FILE = HERE / "access-control.json"
CORPUS_FILE = HERE / "corpus.json"


@dataclass(frozen=True)
class Case:
    subject: str
    role: str
    request_id: str
    permissions: dict[str, list[str]]
    expected: bool

    @property
    def label(self) -> str:
        return f"{self.subject}:{self.request_id}"


def load_corpus() -> list[Case]:
    data: dict[str, Any] = json.loads(CORPUS_FILE.read_text(encoding="utf-8"))
    subjects: dict[str, str] = data["subjects"]
    requests: dict[str, dict[str, list[str]]] = data["requests"]
    expected: dict[str, list[str]] = data["expected"]
    assert set(expected) == set(subjects), "every subject needs its expected list"
    for passes in expected.values():
        assert set(passes) <= set(requests), "expected lists name known requests"
    return [
        Case(subject, role, request_id, permissions, request_id in expected[subject])
        for subject, role in subjects.items()
        for request_id, permissions in requests.items()
    ]
