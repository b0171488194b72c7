"""``make audit``: known vulnerabilities in the locked dependencies, minus the accepted ones.

    cd backend && uv run python -m scripts.audit

1. pip-audit over ``backend/requirements.txt`` and ``requirements-dev.txt`` (the pinned export of
   ``uv.lock``, ``make requirements``), taken as they are: nothing is resolved or installed
   (``--no-deps --disable-pip``). pip-audit is not a dependency of the project: it runs ad hoc
   through ``uvx``, at the version pinned below.
2. npm audit over ``auth-server/package-lock.json`` (``--package-lock-only``: no node_modules
   needed).

The advisories accepted for this service are listed in ``audit-ignore.toml`` at the repository
root, each with the reason it does not apply. Anything else found fails the run. So does an
advisory database that does not answer: pip-audit then reports every package as "not found on
PyPI" and still prints "No known vulnerabilities found", which proves nothing, and npm's audit
endpoint answers with an error (405 behind some registry mirrors).

Exit status: 0 nothing unaccepted found, 1 findings, 2 the audit could not be completed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "backend"
AUTH_SERVER = ROOT / "auth-server"
IGNORE_FILE = ROOT / "audit-ignore.toml"
REQUIREMENTS = (BACKEND / "requirements.txt", BACKEND / "requirements-dev.txt")
PIP_AUDIT = "pip-audit==2.10.1"
TIMEOUT_SECONDS = 600

_ADVISORY_ID = re.compile(r"GHSA(-[23456789cfghjmpqrvwx]{4}){3}")


@dataclass(frozen=True)
class Accepted:
    """One advisory accepted on purpose (an ``audit-ignore.toml`` entry)."""

    id: str
    package: str
    reason: str
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> frozenset[str]:
        return frozenset({self.id, *self.aliases})


@dataclass
class Outcome:
    """What one tool found, sorted into what fails the run and what does not."""

    tool: str
    findings: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> int:
        if self.findings:
            return 1
        if self.error or self.unaudited:
            return 2
        return 0


def load_accepted(path: Path = IGNORE_FILE) -> dict[str, list[Accepted]]:
    """``{"python": [...], "node": [...]}`` from the ignore list; every entry needs a reason."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    accepted: dict[str, list[Accepted]] = {"python": [], "node": []}
    for ecosystem, entries in accepted.items():
        for entry in document.get(ecosystem, []):
            reason = " ".join(str(entry.get("reason", "")).split())
            if not entry.get("id") or not entry.get("package") or not reason:
                raise ValueError(f"{path.name}: every entry needs id, package and reason: {entry}")
            entries.append(
                Accepted(
                    id=str(entry["id"]),
                    package=str(entry["package"]),
                    reason=reason,
                    aliases=tuple(str(alias) for alias in entry.get("aliases", ())),
                )
            )
    return accepted


def _match(ids: Iterable[str], package: str, accepted: Sequence[Accepted]) -> Accepted | None:
    wanted = set(ids)
    for entry in accepted:
        if entry.package.lower() == package.lower() and entry.names & wanted:
            return entry
    return None


def classify_pip_audit(report: Mapping[str, Any], accepted: Sequence[Accepted]) -> Outcome:
    """Sort pip-audit's JSON report (``--format json``)."""
    outcome = Outcome("pip-audit")
    dependencies = report.get("dependencies")
    if not isinstance(dependencies, list) or not dependencies:
        outcome.error = "pip-audit's report lists no dependencies"
        return outcome
    for dependency in dependencies:
        name, version = dependency.get("name", "?"), dependency.get("version", "?")
        if dependency.get("skip_reason"):
            outcome.unaudited.append(f"{name}: {dependency['skip_reason']}")
            continue
        for vuln in dependency.get("vulns", []):
            ids = [vuln.get("id", "?"), *vuln.get("aliases", [])]
            label = f"{name} {version}: {' / '.join(ids)}"
            entry = _match(ids, name, accepted)
            if entry is None:
                fixes = ", ".join(vuln.get("fix_versions", [])) or "none"
                outcome.findings.append(f"{label} (fixed in: {fixes})")
            else:
                outcome.accepted.append(label)
    return outcome


def _advisory_ids(via: Mapping[str, Any]) -> list[str]:
    found = _ADVISORY_ID.search(str(via.get("url", "")))
    ids = [found.group(0)] if found else []
    if via.get("source") is not None:
        ids.append(str(via["source"]))
    return ids


def classify_npm_audit(report: Mapping[str, Any], accepted: Sequence[Accepted]) -> Outcome:
    """Sort ``npm audit --json`` output (npm 7+, ``auditReportVersion`` 2)."""
    outcome = Outcome("npm audit")
    vulnerabilities = report.get("vulnerabilities")
    if "error" in report or not isinstance(vulnerabilities, Mapping):
        message = report.get("message") or report.get("error") or "no report"
        outcome.error = f"the audit endpoint did not answer: {message}"
        return outcome
    for name, vulnerability in vulnerabilities.items():
        # A string in `via` names the dependency the problem comes through; that package is
        # reported under its own name, with the advisory itself.
        for via in vulnerability.get("via", []):
            if not isinstance(via, Mapping):
                continue
            ids = _advisory_ids(via)
            label = f"{name} {via.get('range', '')}: {' / '.join(ids) or via.get('title', '?')}"
            entry = _match(ids, name, accepted)
            if entry is None:
                outcome.findings.append(f"{label} ({via.get('severity', '?')}: {via.get('title')})")
            else:
                outcome.accepted.append(label)
    return outcome


def _run_json(command: Sequence[str], cwd: Path) -> tuple[dict[str, Any] | None, str]:
    """(the JSON document the command printed, its stderr); None when there is none."""
    try:
        completed = subprocess.run(  # noqa: S603 - fixed commands, no shell
            list(command),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, str(error)
    try:
        document = json.loads(completed.stdout)
    except ValueError:
        return None, (completed.stderr or completed.stdout).strip()
    return (document if isinstance(document, dict) else None), completed.stderr.strip()


def pip_audit(accepted: Sequence[Accepted]) -> Outcome:
    command = ["uvx", "--from", PIP_AUDIT, "pip-audit", "--no-deps", "--disable-pip"]
    for requirements in REQUIREMENTS:
        command += ["-r", str(requirements)]
    command += ["--progress-spinner", "off", "--format", "json"]
    report, stderr = _run_json(command, BACKEND)
    if report is None:
        return Outcome("pip-audit", error=f"no report ({stderr.splitlines()[-1:] or 'no output'})")
    return classify_pip_audit(report, accepted)


def npm_audit(accepted: Sequence[Accepted]) -> Outcome:
    command = ["npm", "audit", "--json", "--package-lock-only", "--no-fund"]
    report, stderr = _run_json(command, AUTH_SERVER)
    if report is None:
        return Outcome("npm audit", error=f"no report ({stderr.splitlines()[-1:] or 'no output'})")
    return classify_npm_audit(report, accepted)


def render(outcome: Outcome) -> list[str]:
    lines = []
    for line in outcome.findings:
        lines.append(f"{outcome.tool}: VULNERABLE {line}")
    for line in outcome.accepted:
        lines.append(f"{outcome.tool}: accepted {line} (reason: {IGNORE_FILE.name})")
    if outcome.unaudited:
        total = len(outcome.unaudited)
        lines.append(
            f"{outcome.tool}: {total} package(s) could not be audited (is the advisory database "
            f"reachable?), e.g. {outcome.unaudited[0]}"
        )
    if outcome.error:
        lines.append(f"{outcome.tool}: could not audit: {outcome.error}")
    verdict = {0: "ok", 1: "FAILED (unaccepted advisories)", 2: "INCOMPLETE"}[outcome.status]
    lines.append(f"{outcome.tool}: {verdict}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.audit",
        description="pip-audit and npm audit over the lockfiles, minus audit-ignore.toml.",
    )
    parser.add_argument("--skip-python", action="store_true", help="skip pip-audit")
    parser.add_argument("--skip-node", action="store_true", help="skip npm audit")
    args = parser.parse_args(argv)
    accepted = load_accepted()
    outcomes = []
    if not args.skip_python:
        outcomes.append(pip_audit(accepted["python"]))
    if not args.skip_node:
        outcomes.append(npm_audit(accepted["node"]))
    for outcome in outcomes:
        sys.stdout.write("\n".join(render(outcome)) + "\n")
    statuses = [outcome.status for outcome in outcomes]
    return 1 if 1 in statuses else max(statuses, default=0)


if __name__ == "__main__":
    raise SystemExit(main())
