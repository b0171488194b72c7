"""BETTER_AUTH_SECRETS read by Better-Auth's own parser (the auth server's installed
``better-auth``: ``context/secret-utils``, ``parseSecretsEnv`` then ``validateSecretsArray``) and
by the API's: the same values accepted, the same versions and secrets, the same messages (1.7;
1.6 words them otherwise); and
the bundled auth server's start-up check (``auth-server/src/secrets.ts``) agrees too."""

from __future__ import annotations

import json
import subprocess

import pytest

from app.utils.auth_secrets import parse_secrets_env
from devstack.processes import AUTH_SERVER_DIR
from tests.e2e.versions import before
from tests.unit.test_auth_secrets import ACCEPTED, REFUSED

pytestmark = pytest.mark.e2e


def _run_better_auth(values: list[str]) -> list[dict[str, object]]:
    module = AUTH_SERVER_DIR / "node_modules/better-auth/dist/context/secret-utils.mjs"
    script = """
const { pathToFileURL } = await import("node:url");
const { readFileSync } = await import("node:fs");
const upstream = await import(pathToFileURL(process.argv[1]).href);
const bundled = await import(pathToFileURL("src/secrets.ts").href);
const logger = { warn() {} };
const answer = (run) => {
  try { return { ok: run() }; } catch (e) { return { error: e.message }; }
};
const out = JSON.parse(readFileSync(0, "utf8")).map((raw) => ({
  upstream: answer(() => {
    const s = upstream.parseSecretsEnv(raw);
    if (s) upstream.validateSecretsArray(s, logger);
    return s;
  }),
  bundled: answer(() => bundled.parseSecretsEnv(raw, (m) => new Error(m)) ?? null),
}));
process.stdout.write(JSON.stringify(out));
"""
    completed = subprocess.run(
        ["node", "--import", "tsx", "--input-type=module", "-e", script, str(module)],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        cwd=AUTH_SERVER_DIR,
        timeout=60,
        check=True,
    )
    answers: list[dict[str, object]] = json.loads(completed.stdout)
    return answers


def _ours(raw: str) -> dict[str, object]:
    try:
        parsed = parse_secrets_env(raw)
    except ValueError as error:
        return {"error": str(error)}
    return {
        "ok": None if parsed is None else [{"version": s.version, "value": s.value} for s in parsed]
    }


def test_same_answers_as_better_auth() -> None:
    values = ["", *(raw for raw, _ in ACCEPTED), *(raw for raw, _ in REFUSED)]
    for raw, answer in zip(values, _run_better_auth(values), strict=True):
        ours = _ours(raw)
        if before(1, 7):
            # Better-Auth 1.6 words its refusals otherwise (it quotes the refused entry, secret
            # and all; 1.7 names its position, as we do): the same values accepted and refused.
            upstream = answer["upstream"]
            assert isinstance(upstream, dict)
            assert set(upstream) == set(ours), raw
            assert upstream.get("ok") == ours.get("ok"), raw
        else:
            assert answer["upstream"] == ours, raw
        assert answer["bundled"] == ours, raw
