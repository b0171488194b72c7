"""The admin console's end-to-end access control: Better-Auth's ``admin`` and ``user`` roles,
a ``support`` role that may look (list and read users, list sessions) but change nothing, and a
``moderator`` who may also ban (impersonated in the audit test)."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = Path(__file__).resolve().parent / "access-control.json"
