"""``make audit`` (scripts/audit.py) and the reasons in ``audit-ignore.toml``.

The advisory databases do not answer on every machine, so the tool runs are not part of the
suite; what is checked here is how their reports are read (fed real report shapes), that an
unanswered database is a failure and not a pass, that every accepted advisory has a reason that
holds (the ``ecdsa`` one is checked against the code), and that ``make audit`` stays out of
``make test``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scripts import audit
from scripts.audit import Accepted, classify_npm_audit, classify_pip_audit, load_accepted
from tests.support.database import BACKEND_DIR

ROOT = BACKEND_DIR.parent
ECDSA = Accepted(
    id="GHSA-wj6h-64fc-37mp", package="ecdsa", reason="not used", aliases=("CVE-2024-23342",)
)


def _dependency(name: str, version: str, *vulns: dict[str, object]) -> dict[str, object]:
    return {"name": name, "version": version, "vulns": list(vulns)}


class TestPipAuditReport:
    def test_clean(self) -> None:
        report = {"dependencies": [_dependency("fastapi", "0.165.0")], "fixes": []}
        outcome = classify_pip_audit(report, [ECDSA])
        assert outcome.status == 0
        assert not outcome.findings

    def test_accepted_by_id_or_alias(self) -> None:
        by_alias = {"id": "PYSEC-2024-0", "aliases": ["CVE-2024-23342"], "fix_versions": []}
        by_id = {"id": "GHSA-wj6h-64fc-37mp", "aliases": [], "fix_versions": []}
        for vuln in (by_alias, by_id):
            report = {"dependencies": [_dependency("ecdsa", "0.19.2", vuln)]}
            outcome = classify_pip_audit(report, [ECDSA])
            assert outcome.status == 0
            assert len(outcome.accepted) == 1

    def test_acceptance_is_per_package(self) -> None:
        vuln = {"id": "GHSA-wj6h-64fc-37mp", "aliases": [], "fix_versions": ["9"]}
        outcome = classify_pip_audit({"dependencies": [_dependency("other", "1.0", vuln)]}, [ECDSA])
        assert outcome.status == 1
        assert outcome.findings == ["other 1.0: GHSA-wj6h-64fc-37mp (fixed in: 9)"]

    def test_unanswered_database_is_not_a_pass(self) -> None:
        """What pip-audit prints offline: every package "not found", "No known vulnerabilities"."""
        skip = "Dependency not found on PyPI and could not be audited: fastapi (0.165.0)"
        report = {"dependencies": [{"name": "fastapi", "skip_reason": skip}], "fixes": []}
        outcome = classify_pip_audit(report, [])
        assert outcome.status == 2
        assert outcome.unaudited
        assert "could not be audited" in "\n".join(audit.render(outcome))

    def test_empty_report_is_not_a_pass(self) -> None:
        assert classify_pip_audit({"dependencies": []}, []).status == 2


class TestNpmAuditReport:
    @staticmethod
    def _report(ghsa: str) -> dict[str, object]:
        advisory = {
            "source": 1100000,
            "name": "cookie",
            "dependency": "cookie",
            "title": "cookie accepts out of bounds characters",
            "url": f"https://github.com/advisories/{ghsa}",
            "severity": "low",
            "range": "<0.7.0",
        }
        return {
            "auditReportVersion": 2,
            "vulnerabilities": {
                "cookie": {"name": "cookie", "severity": "low", "via": [advisory]},
                # Reported through its dependency: named by a string, counted once, under cookie.
                "better-call": {"name": "better-call", "severity": "low", "via": ["cookie"]},
            },
            "metadata": {"vulnerabilities": {"low": 2, "total": 2}},
        }

    def test_finding(self) -> None:
        outcome = classify_npm_audit(self._report("GHSA-pxg6-pf52-xh8x"), [])
        assert outcome.status == 1
        assert len(outcome.findings) == 1
        assert "GHSA-pxg6-pf52-xh8x" in outcome.findings[0]

    def test_accepted(self) -> None:
        accepted = Accepted(id="GHSA-pxg6-pf52-xh8x", package="cookie", reason="r")
        outcome = classify_npm_audit(self._report("GHSA-pxg6-pf52-xh8x"), [accepted])
        assert outcome.status == 0
        assert len(outcome.accepted) == 1

    def test_clean(self) -> None:
        report = {"auditReportVersion": 2, "vulnerabilities": {}, "metadata": {}}
        assert classify_npm_audit(report, []).status == 0

    def test_endpoint_error_is_not_a_pass(self) -> None:
        """What npm prints when the registry refuses the bulk advisory request."""
        message = "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk"
        report = {"message": message, "statusCode": 405, "error": {"summary": "", "detail": ""}}
        outcome = classify_npm_audit(report, [])
        assert outcome.status == 2
        assert outcome.error is not None
        assert "405" in outcome.error


class TestIgnoreList:
    def test_every_entry_has_a_reason(self) -> None:
        accepted = load_accepted()
        entries = accepted["python"] + accepted["node"]
        assert entries
        for entry in entries:
            assert len(entry.reason) > 80, entry  # a reason, not a label
            assert entry.package

    def test_ecdsa_is_accepted_with_its_ids(self) -> None:
        (entry,) = [e for e in load_accepted()["python"] if e.package == "ecdsa"]
        assert {"GHSA-wj6h-64fc-37mp", "CVE-2024-23342"} <= entry.names

    def test_entries_name_locked_packages(self) -> None:
        locked = (BACKEND_DIR / "requirements.txt").read_text().lower()
        for entry in load_accepted()["python"]:
            assert re.search(rf"^{re.escape(entry.package.lower())}==", locked, re.M), entry

    def test_an_entry_without_reason_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "audit-ignore.toml"
        path.write_text('[[python]]\nid = "GHSA-x"\npackage = "p"\nreason = "  "\n')
        with pytest.raises(ValueError, match="reason"):
            load_accepted(path)

    def test_the_ecdsa_code_path_is_never_taken(self) -> None:
        """The reason given for ecdsa: verifying an ES256 token (the ECDSA path) with the app's
        JOSE adapter, the app built, leaves python-ecdsa unimported."""
        code = textwrap.dedent(
            """
            import sys, time
            from app.config import Settings
            from app.main import create_app
            from app.services.auth.jose import build_public_key, decode_verified
            from tests.support.keys import generate_key, sign_token

            create_app(Settings(_env_file=None))
            key = generate_key("ES256")
            origin = "http://localhost:3000"
            claims = {"sub": "u", "iss": origin, "aud": origin, "exp": int(time.time()) + 60}
            token = sign_token(key, claims)
            verified = decode_verified(
                token, build_public_key(key.public_jwk()), ["ES256"], origin, origin
            )
            assert verified["sub"] == "u"
            print(sorted(m for m in sys.modules if m.split(".")[0] == "ecdsa"))
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=BACKEND_DIR,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[]"


def _prerequisites(makefile: str, target: str) -> set[str]:
    match = re.search(rf"^{re.escape(target)}:([^#\n]*)", makefile, re.M)
    return set(match.group(1).split()) if match else set()


def test_make_audit_is_not_part_of_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^audit:.*\n\t.*python -m scripts\.audit", makefile, re.M)
    reachable, pending = set(), ["test"]
    while pending:
        target = pending.pop()
        if target not in reachable:
            reachable.add(target)
            pending.extend(_prerequisites(makefile, target))
    assert "audit" not in reachable
    body = re.search(r"^test:[^\n]*\n((?:\t[^\n]*\n)*)", makefile, re.M)
    assert body is not None
    assert "audit" not in body.group(1)


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not on PATH")
@pytest.mark.parametrize(
    ("path", "flags"),
    [("requirements.txt", ["--no-dev"]), ("requirements-dev.txt", ["--only-dev"])],
)
def test_audited_requirements_match_the_lock(path: str, flags: list[str]) -> None:
    """`make audit` reads requirements*.txt: they must be `make requirements`' export of uv.lock."""
    exported = subprocess.run(
        ["uv", "export", "--frozen", *flags, "--no-hashes", "--no-emit-project", "--quiet"],
        cwd=BACKEND_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout

    def pins(text: str) -> list[str]:
        return [line for line in text.splitlines() if line and not line.startswith(("#", " "))]

    assert pins(exported) == pins((BACKEND_DIR / path).read_text()), "run `make requirements`"
