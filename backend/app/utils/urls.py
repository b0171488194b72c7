"""URL arithmetic the settings need: Better-Auth's origin of a URL, Neon's direct host, Redis."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> str:
    """``new URL(url).origin``, as Better-Auth derives ``iss``/``aud``: lower-case scheme and
    host, no credentials, no default port, no path."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    keep_port = port is not None and port != _DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if keep_port else "")


def direct_endpoint_url(database_url: str) -> str:
    """Neon's pooled host ``ep-x-123-pooler.region...`` is ``ep-x-123.region...`` without the
    pooler (PgBouncer in transaction mode cannot hold a LISTEN)."""
    parts = urlsplit(database_url)
    host = parts.hostname or ""
    first, dot, rest = host.partition(".")
    if not first.endswith("-pooler"):
        return database_url
    direct_host = first.removesuffix("-pooler") + dot + rest
    userinfo, at, hostport = parts.netloc.rpartition("@")
    # Only the host part changes (a user name may well look like the host).
    netloc = userinfo + at + hostport.replace(host, direct_host, 1)
    return urlunsplit(parts._replace(netloc=netloc))


def checked_redis_url(value: str) -> str:
    """A Redis URL as redis-py takes it (``redis://``, ``rediss://``, ``unix://``), or empty."""
    value = value.strip()
    if value and urlsplit(value).scheme.lower() not in {"redis", "rediss", "unix"}:
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value
