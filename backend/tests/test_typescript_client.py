"""The TypeScript client's package, checked without Node (the E2E suite regenerates and runs it):
every path of the committed contract is in the generated schema, and every dependency is pinned
to an exact version, as in the lockfile."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "typescript"
CONTRACT = ROOT / "specs" / "003-fastapi-better-auth" / "contracts" / "openapi.yaml"


def test_every_contract_path_is_in_the_generated_schema() -> None:
    paths = set(yaml.safe_load(CONTRACT.read_text())["paths"])
    schema = (CLIENT / "src" / "schema.d.ts").read_text()
    generated = set(re.findall(r'^    "(/[^"]*)": \{$', schema, re.MULTILINE))
    assert paths == generated, "run `make client` (npm run generate in clients/typescript)"


def test_dependencies_are_pinned_as_locked() -> None:
    package = json.loads((CLIENT / "package.json").read_text())
    locked = json.loads((CLIENT / "package-lock.json").read_text())["packages"]
    declared = {**package["dependencies"], **package["devDependencies"]}
    assert declared["better-auth"] == "1.7.29"  # the auth server's version
    for name, version in declared.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned: {version}"
        assert locked[f"node_modules/{name}"]["version"] == version, name
