"""docs/reference/error-codes.md from the code that raises the errors (``error_scan``)."""

from __future__ import annotations

from http import HTTPStatus

from scripts.reference.error_scan import Found, scan

HEADER = """# Error codes

<!-- Generated from backend/app by `make docs-reference` (backend/scripts/reference/error_scan.py);
do not edit by hand. -->

Every error is `application/problem+json` (RFC 9457) with a stable `code` and the request id:

```json
{"type": "about:blank", "title": "Not Found", "status": 404, "detail": "Not Found",
 "message": "Not Found", "instance": "/nowhere", "code": "NOT_FOUND", "requestId": "4f1c…"}
```

`message` repeats `detail`: Better-Auth's client reads `{code, message, status}` from an error, so
a frontend handles the errors of both servers with one handler. A validation error (422) adds
`errors: [{loc, msg, type}]`; a 401 carries `WWW-Authenticate`, a 429 and a 503 `Retry-After`.
Where Better-Auth has a code for the same refusal (`BANNED_USER`,
`YOU_ARE_NOT_ALLOWED_TO_BAN_USERS` and the admin plugin's other codes, the organization and API-key
plugins' codes), this API answers with that code and message.

The table lists every code the app's source raises, read from that source: the status(es) it is
answered with, its message(s) (`…` stands for a part that varies) and the modules that raise it.
A status shown as — is decided at run time (a CORS refusal takes the status Starlette's CORS
middleware gives it).
"""


def _statuses(found: Found) -> str:
    return ", ".join(f"{status} {HTTPStatus(status).phrase}" for status in sorted(found.statuses))


def _messages(found: Found) -> str:
    messages = sorted(found.messages)
    if not messages:
        return ""
    shown = "<br>".join(message.replace("|", "\\|") for message in messages[:3])
    return shown + (f"<br>(+{len(messages) - 3} more)" if len(messages) > 3 else "")


def _modules(found: Found) -> str:
    return "<br>".join(f"`{module.removeprefix('app/')}`" for module in sorted(found.modules))


def render() -> str:
    codes = scan()
    lines = [HEADER, "| code | status | message | raised in (`app/`) |", "|---|---|---|---|"]
    for code in sorted(codes):
        found = codes[code]
        lines.append(
            f"| `{code}` | {_statuses(found) or '—'} | {_messages(found)} | {_modules(found)} |"
        )
    lines.append("")
    return "\n".join(lines)
