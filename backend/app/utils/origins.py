"""CSRF defence for cookie-authenticated requests: Better-Auth's own origin check, in Python.

A browser attaches Better-Auth's session cookie to any request to our host, including a form
that a foreign page posts. So an unsafe request (anything but GET, HEAD, OPTIONS) that
authenticates with the cookie must come from a trusted origin: its ``Origin`` header, else its
``Referer``, must match one of the trusted patterns. Bearer requests are not affected: a foreign
page cannot make a browser attach an ``Authorization`` header.

The matching is Better-Auth's ``matchesOriginPattern`` (``auth/trusted-origins.ts``) and its
``validateOrigin`` (``api/middlewares/origin-check.ts``), with the same error codes:
- a pattern without ``*`` or ``?`` equals the URL's origin (``new URL(url).origin``);
- a pattern with wildcards and ``://`` is matched against the whole origin
  (``https://*.example.com``), one without ``://`` against the host (``*.example.com``);
  ``*`` matches any run of characters but ``/`` and ``\\``, ``?`` exactly one such character;
- a custom scheme (``myapp://``, ``exp://host``) matches by scheme and, when the pattern names
  one, by authority and path prefix;
- no ``Origin``/``Referer``, or ``null``: 403 ``MISSING_OR_NULL_ORIGIN``; an untrusted one:
  403 ``INVALID_ORIGIN``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Final
from urllib.parse import unquote, urlsplit

from app.utils.errors import Forbidden

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
# Schemes whose URLs have an origin (WHATWG "special" schemes, file aside).
_ORIGIN_SCHEMES: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}

# --- the pieces of a URL that Better-Auth reads through `new URL()` --------------------------


def _protocol(url: str) -> str | None:
    scheme, colon, _ = url.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        return None
    return scheme.lower()


def _host(url: str) -> str | None:
    """``new URL(url).host``: lower-case host, with the port unless it is the default."""
    scheme = _protocol(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not host or scheme is None:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _ORIGIN_SCHEMES.get(scheme):
        return f"{host}:{port}"
    return host


def url_origin_or_none(url: str) -> str | None:
    """``new URL(url).origin``, or ``None`` when it has none (custom schemes, not a URL)."""
    scheme = _protocol(url)
    if scheme not in _ORIGIN_SCHEMES:
        return None
    host = _host(url)
    return f"{scheme}://{host}" if host else None


def _normalize_path(path: str) -> str:
    decoded = unquote(path)
    segments: list[str] = []
    for segment in decoded.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in {".", ""}:
            segments.append(segment)
    return "/" + "/".join(segments) if segments else ""


def _custom_scheme_parts(value: str) -> tuple[str, str, str] | None:
    scheme_end = value.find(":")
    if scheme_end <= 0:
        return None
    scheme = value[:scheme_end].lower()
    rest = value[scheme_end + 1 :]
    authority = ""
    if rest.startswith("//"):
        rest = rest[2:]
        match = re.search(r"[/?#]", rest)
        if match is None:
            authority, rest = rest, ""
        else:
            authority, rest = rest[: match.start()], rest[match.start() :]
    path = _normalize_path(re.sub(r"[?#].*$", "", rest, flags=re.DOTALL))
    return scheme, authority.lower(), path


# --- wildcard-match (the library Better-Auth vendors), with "/" as the separator -------------

_WILDCARD: Final = r"[^/\\]"
_REQUIRED_SEPARATOR: Final = r"[/\\]+?"
_OPTIONAL_SEPARATOR: Final = r"[/\\]*?"


@lru_cache(maxsize=256)
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    segments = pattern.split("/")
    result = ""
    for index, segment in enumerate(segments):
        if not segment and index > 0:
            continue
        next_segment = segments[index + 1] if index + 1 < len(segments) else None
        if index == len(segments) - 1:
            separator = _OPTIONAL_SEPARATOR
        elif next_segment != "**":
            separator = _REQUIRED_SEPARATOR
        else:
            separator = ""
        if segment == "**":
            if separator:
                result += "" if index == 0 else separator
                result += f"(?:{_WILDCARD}*?{separator})*?"
            continue
        result += _segment_regex(segment) + separator
    return re.compile(f"^{result}$", re.DOTALL)


def _segment_regex(segment: str) -> str:
    result = ""
    position = 0
    while position < len(segment):
        char = segment[position]
        if char == "\\":
            if position < len(segment) - 1:
                result += re.escape(segment[position + 1])
                position += 1
        elif char == "?":
            result += _WILDCARD
        elif char == "*":
            result += f"{_WILDCARD}*?"
        else:
            result += re.escape(char)
        position += 1
    return result


def matches_origin_pattern(url: str, pattern: str) -> bool:
    """Better-Auth's ``matchesOriginPattern(url, pattern)`` for an ``Origin``/``Referer``."""
    if url.startswith("/"):
        return False  # relative paths are never an origin
    if "*" in pattern or "?" in pattern:
        if "://" in pattern:
            return bool(_wildcard_regex(pattern).match(url_origin_or_none(url) or url))
        host = _host(url)
        return host is not None and bool(_wildcard_regex(pattern).match(host))
    protocol = _protocol(url)
    if protocol in {"http", "https"} or protocol is None:
        return pattern == url_origin_or_none(url)
    return _matches_custom_scheme(url, pattern)


def _matches_custom_scheme(url: str, pattern: str) -> bool:
    """``myapp://`` trusts every host of the scheme; ``myapp://host/cb`` that authority and
    that path (or below it), after ``..`` and percent-escapes are resolved."""
    parsed, parsed_pattern = _custom_scheme_parts(url), _custom_scheme_parts(pattern)
    if parsed is None or parsed_pattern is None or parsed[0] != parsed_pattern[0]:
        return False
    if parsed_pattern[1] and parsed[1] != parsed_pattern[1]:
        return False
    if not parsed_pattern[2]:
        return True
    return parsed[2] == parsed_pattern[2] or parsed[2].startswith(parsed_pattern[2] + "/")


class OriginPolicy:
    """The trusted origins of a deployment, and the check for cookie-authenticated writes."""

    def __init__(self, patterns: Iterable[str]) -> None:
        # Order kept, duplicates dropped; exact origins are looked up in a set first.
        self.patterns: tuple[str, ...] = tuple(dict.fromkeys(p for p in patterns if p))
        self._exact = frozenset(p for p in self.patterns if "*" not in p and "?" not in p)

    def is_trusted(self, url: str) -> bool:
        origin = url_origin_or_none(url)
        if origin is not None and origin in self._exact:
            return True
        return any(matches_origin_pattern(url, pattern) for pattern in self.patterns)

    def check(self, method: str, headers: Mapping[str, str]) -> None:
        """Raise 403 unless a request of ``method`` with these headers may use the cookie."""
        if method.upper() in SAFE_METHODS:
            return
        origin = headers.get("origin") or headers.get("referer") or ""
        if not origin or origin == "null":
            raise Forbidden("Missing or null Origin", code="MISSING_OR_NULL_ORIGIN")
        if not self.is_trusted(origin):
            raise Forbidden("Invalid origin", code="INVALID_ORIGIN")
