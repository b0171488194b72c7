"""CSRF defence for cookie-authenticated requests: Better-Auth's own origin check, in Python.

A browser attaches Better-Auth's session cookie to any request to our host, including a form
that a foreign page posts. So an unsafe request (anything but GET, HEAD, OPTIONS) that
authenticates with the cookie must come from a trusted origin: its ``Origin`` header, else its
``Referer``, must match one of the trusted patterns. Bearer requests are not affected: a foreign
page cannot make a browser attach an ``Authorization`` header.

The matching is Better-Auth 1.7.25's ``matchesOriginPattern`` (``auth/trusted-origins.ts``) and
its ``validateOrigin`` (``api/middlewares/origin-check.ts``), with the same error codes; URLs are
parsed by Ada (``ada_url``), the WHATWG parser behind Node's ``new URL()``:
- a pattern without ``*`` or ``?`` equals the URL's origin (``new URL(url).origin``);
- a pattern with wildcards and ``://`` is matched against the whole origin
  (``https://*.example.com``), one without ``://`` against the host (``*.example.com``);
  ``*`` matches any run of characters but ``/`` and ``\\``, ``?`` exactly one such character
  (``app.utils.wildcard``, linear time); a host pattern made of digits, dots and wildcards
  (``192.168.*.*``) admits IPv4 addresses only;
- a custom scheme (``myapp://``, ``exp://host``) matches by scheme and, when the pattern names
  them, by authority and path (a prefix, or a wildcard pattern), after ``..`` and
  percent-escapes are resolved;
- no ``Origin``/``Referer``, or ``null``: 403 ``MISSING_OR_NULL_ORIGIN``; an untrusted one:
  403 ``INVALID_ORIGIN``. So is one longer than ``MAX_ORIGIN_LENGTH`` (Better-Auth has no
  bound; browsers send at most 4,096 characters of ``Referer`` and far less of ``Origin``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final, NamedTuple

from ada_url import URL

from app.utils.errors import Forbidden
from app.utils.wildcard import wildcard

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_ORIGIN_LENGTH: Final = 4096
_CONTROL_CHARACTER: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
_IP_WILDCARD_HOST: Final = re.compile(r"(?=.*[0-9])[0-9*?.]+")
_OCTET: Final = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4: Final = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")  # zod's z.ipv4()
_WEB_SCHEMES: Final = frozenset({"http", "https", "ws", "wss"})

# --- what Better-Auth reads through `new URL()` ------------------------------------------------


def _parsed(url: str) -> URL | None:
    try:
        return URL(url)
    except ValueError:
        return None


def _protocol(url: str) -> str | None:
    parsed = _parsed(url)
    return parsed.protocol if parsed is not None else None


def _host(url: str) -> str | None:
    """``new URL(url).host`` (with the port unless it is the scheme's default), or None."""
    parsed = _parsed(url)
    if parsed is None:
        return None
    host: str = parsed.host
    return host or None


def url_origin_or_none(url: str) -> str | None:
    """Better-Auth's ``getOrigin``: ``new URL(url).origin``, None for an opaque one."""
    parsed = _parsed(url)
    if parsed is None or parsed.origin == "null":
        return None
    origin: str = parsed.origin
    return origin


def _allowed_ipv4_host(pattern_authority: str, authority: str) -> bool:
    """A wildcard host of digits, dots and wildcards (``192.168.*.*``) names an address range:
    it admits an IPv4 address only, not ``192.168.attacker.com``."""
    if not _IP_WILDCARD_HOST.fullmatch(pattern_authority.split(":", maxsplit=1)[0]):
        return True
    return _IPV4.fullmatch(authority.split(":", maxsplit=1)[0]) is not None


# --- custom schemes, read with string operations as Better-Auth does ----------------------------


class _CustomSchemeUrl(NamedTuple):
    scheme: str
    authority: str
    path: str


def _decode_uri_component(text: str) -> str | None:
    """JavaScript's ``decodeURIComponent``, or None where it throws (a bad escape, bad UTF-8)."""
    if "%" not in text:
        return text
    decoded = bytearray()
    position = 0
    while position < len(text):
        char = text[position]
        if char == "%":
            escape = text[position + 1 : position + 3]
            if len(escape) != 2 or not all(c in "0123456789abcdefABCDEF" for c in escape):
                return None
            decoded.append(int(escape, 16))
            position += 3
            continue
        decoded += char.encode("utf-8", "surrogatepass")
        position += 1
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _normalize_path(path: str) -> str:
    """Percent-decoded, ``.`` and ``..`` resolved: ``/cb/../evil`` is ``/evil``."""
    decoded = _decode_uri_component(path)
    segments: list[str] = []
    for segment in (path if decoded is None else decoded).split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in {".", ""}:
            segments.append(segment)
    return "/" + "/".join(segments) if segments else ""


def _custom_scheme_parts(value: str, *, wildcard_pattern: bool = False) -> _CustomSchemeUrl | None:
    if _CONTROL_CHARACTER.search(value):
        return None
    scheme_end = value.find(":")
    if scheme_end <= 0:
        return None
    rest = value[scheme_end + 1 :]
    authority = ""
    # A wildcard pattern may hold "?" in its authority and path: only "#" ends them there.
    authority_end = "/#" if wildcard_pattern else "/?#"
    path_end = "#" if wildcard_pattern else "?#"
    if rest.startswith("//"):
        rest = rest[2:]
        end = next((i for i, c in enumerate(rest) if c in authority_end), len(rest))
        authority, rest = rest[:end], rest[end:]
    end = next((i for i, c in enumerate(rest) if c in path_end), len(rest))
    return _CustomSchemeUrl(
        value[:scheme_end].lower(), authority.lower(), _normalize_path(rest[:end])
    )


def _matches_custom_scheme(url: str, pattern: str, *, has_wildcard: bool) -> bool:
    """``myapp://`` trusts every URL of the scheme; ``myapp://host/cb`` that authority and that
    path (or below it); with wildcards, the authority and path as patterns."""
    parsed = _custom_scheme_parts(url)
    wanted = _custom_scheme_parts(pattern, wildcard_pattern=has_wildcard)
    if parsed is None or wanted is None or parsed.scheme != wanted.scheme:
        return False
    if has_wildcard:
        return _matches_custom_wildcards(parsed, wanted)
    if wanted.authority and parsed.authority != wanted.authority:
        return False
    if not wanted.path:
        return True
    return parsed.path == wanted.path or parsed.path.startswith(wanted.path + "/")


def _matches_custom_wildcards(parsed: _CustomSchemeUrl, wanted: _CustomSchemeUrl) -> bool:
    if "@" in parsed.authority:
        return False
    if wanted.authority and not (
        wildcard(wanted.authority).matches(parsed.authority)
        and _allowed_ipv4_host(wanted.authority, parsed.authority)
    ):
        return False
    return not wanted.path or wildcard(wanted.path).matches(parsed.path or "/")


def matches_origin_pattern(url: str, pattern: str) -> bool:
    """Better-Auth's ``matchesOriginPattern(url, pattern)`` for an ``Origin``/``Referer``."""
    if url.startswith("/"):
        return False  # relative paths are never an origin
    has_wildcard = "*" in pattern or "?" in pattern
    if has_wildcard and "://" not in pattern:
        host = _host(url)
        return (
            host is not None
            and wildcard(pattern).matches(host)
            and _allowed_ipv4_host(pattern, host)
        )
    protocol = _protocol(url)
    if protocol in {"http:", "https:"} or protocol is None:
        origin = url_origin_or_none(url)
        if not has_wildcard:
            return pattern == origin
        if origin is None or not wildcard(pattern).matches(origin):
            return False
        pattern_authority = pattern[pattern.index("://") + 3 :]
        return _allowed_ipv4_host(pattern_authority, origin[origin.index("://") + 3 :])
    return _matches_custom_scheme(url, pattern, has_wildcard=has_wildcard)


def matches_origin_pattern_1_6(url: str, pattern: str) -> bool:
    """Better-Auth 1.6's ``matchesOriginPattern`` (1.6.34): wildcards matched against the whole
    origin or the host, with no IPv4 rule; a custom scheme matched as a plain string prefix
    (case-sensitive, no ``..`` resolution); http(s) exactly as 1.7."""
    if url.startswith("/"):
        return False
    if "*" in pattern or "?" in pattern:
        if "://" in pattern:
            return wildcard(pattern).matches(url_origin_or_none(url) or url)
        host = _host(url)
        return host is not None and wildcard(pattern).matches(host)
    if _protocol(url) in {"http:", "https:", None}:
        return pattern == url_origin_or_none(url)
    return url.startswith(pattern)


#: The Better-Auth release lines whose origin check the API answers as (``BETTER_AUTH_LINE``).
BETTER_AUTH_LINES: Final = ("1.7", "1.6")


class OriginPolicy:
    """The trusted origins of a deployment, and the check for cookie-authenticated writes.

    ``line="1.6"``: an origin 1.6 refuses is refused (1.6 matches custom schemes case-sensitively
    and refuses ``myapp://*``-style wildcards). What only 1.6 trusts stays refused: an address
    range admitting a host name, ``myapp://callback`` admitting ``myapp://callback.attacker.tld``,
    ``..`` escaping a path (fixed in 1.7). So the answer is never wider than either line's."""

    def __init__(self, patterns: Iterable[str], *, line: str = "1.7") -> None:
        if line not in BETTER_AUTH_LINES:
            raise ValueError(f"unknown Better-Auth line {line!r}")
        self.line = line
        # Order kept, duplicates dropped.
        self.patterns: tuple[str, ...] = tuple(dict.fromkeys(p for p in patterns if p))
        # Patterns that are an origin as new URL() spells it: an Origin header equal to one
        # is trusted without parsing (it is its own origin). Better-Auth compares a pattern
        # with the *parsed* origin, so a pattern spelt otherwise never matches an exact one.
        self._canonical = frozenset(p for p in self.patterns if url_origin_or_none(p) == p)

    def is_trusted(self, url: str) -> bool:
        if url in self._canonical:
            return True
        if len(url) > MAX_ORIGIN_LENGTH:
            return False
        if not any(matches_origin_pattern(url, pattern) for pattern in self.patterns):
            return False
        return self.line != "1.6" or any(
            matches_origin_pattern_1_6(url, pattern) for pattern in self.patterns
        )

    def check(self, method: str, headers: Mapping[str, str]) -> None:
        """Raise 403 unless a request of ``method`` with these headers may use the cookie."""
        if method.upper() in SAFE_METHODS:
            return
        origin = headers.get("origin") or headers.get("referer") or ""
        if not origin or origin == "null":
            raise Forbidden("Missing or null Origin", code="MISSING_OR_NULL_ORIGIN")
        if not self.is_trusted(origin):
            raise Forbidden("Invalid origin", code="INVALID_ORIGIN")


# --- settings: patterns that would trust everyone are refused at start ------------------------


def exact_origins(origins: list[str]) -> list[str]:
    """``CORS_ORIGINS``: answered with ``Access-Control-Allow-Credentials: true``, ``*`` (which
    Starlette then answers with the caller's own origin) or ``null`` (sandboxed frames,
    ``file:`` pages) would let any page read the signed-in user's data."""
    for origin in origins:
        if origin in {"*", "null"}:
            raise ValueError(
                f"{origin!r} would let any page make credentialed requests; "
                "list the exact browser origins (https://app.example.com)"
            )
    return origins


def origin_patterns(patterns: list[str]) -> list[str]:
    """``TRUSTED_ORIGINS``: a pattern must name some host. ``*``, ``https://*`` or ``*.*`` would
    make the cookie CSRF check pass every page. A custom scheme alone (``myapp://``) is fine:
    only an app registered for it sends it."""
    for pattern in patterns:
        if pattern == "null" or _trusts_every_host(pattern):
            raise ValueError(
                f"{pattern!r} would trust every origin; name the hosts "
                "(https://app.example.com, https://*.preview.example.com, myapp://)"
            )
    return patterns


def _trusts_every_host(pattern: str) -> bool:
    scheme, separator, rest = pattern.partition("://")
    if not separator:
        rest = pattern
    elif scheme.lower() not in _WEB_SCHEMES and "*" not in scheme and "?" not in scheme:
        return False  # a custom scheme: its own app's links
    host = rest.split("/", 1)[0]
    return not host.strip("*?.:")
