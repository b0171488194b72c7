"""What a browser does during an OAuth sign-in, over plain HTTP: follow redirects across origins,
keep each origin's cookies to itself, fill in and post HTML forms.

One ``httpx.Client`` per origin (scheme, host and port), so the auth server on one port never
receives the provider's cookies on another, nor the other way round. Redirects are followed here,
one hop at a time, so a test sees each URL of the chain (``hops``) and can stop before leaving
for a page nobody serves (the frontend's callback URL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

MAX_REDIRECTS = 20


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class Hop:
    method: str
    url: str
    status: int
    location: str | None


@dataclass(frozen=True)
class Form:
    action: str  # absolute
    method: str
    fields: dict[str, str]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[dict[str, str | None], dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append((attributes, {}))
        elif tag == "input" and self.forms and attributes.get("name"):
            self.forms[-1][1][str(attributes["name"])] = attributes.get("value") or ""


def forms(page: httpx.Response) -> list[Form]:
    """The forms of an HTML page, their actions made absolute."""
    parser = _FormParser()
    parser.feed(page.text)
    return [
        Form(
            action=urljoin(str(page.url), attributes.get("action") or str(page.url)),
            method=(attributes.get("method") or "get").upper(),
            fields=fields,
        )
        for attributes, fields in parser.forms
    ]


def form_posting_to(page: httpx.Response, suffix: str) -> Form:
    found = [form for form in forms(page) if urlsplit(form.action).path.endswith(suffix)]
    if len(found) != 1:
        raise AssertionError(f"no single form posting to *{suffix} on {page.url}:\n{page.text}")
    return found[0]


@dataclass
class Browser:
    """``stop_at``: URLs the browser would load next but the test does not (an origin nobody
    serves); following ends there and ``last_url`` holds it."""

    stop_at: Callable[[str], bool] = lambda _url: False
    hops: list[Hop] = field(default_factory=list)
    last_url: str | None = None
    _clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, url: str) -> httpx.Client:
        key = origin(url)
        if key not in self._clients:
            self._clients[key] = httpx.Client(timeout=10.0, trust_env=False)
        return self._clients[key]

    def cookie(self, url: str, name: str) -> str | None:
        """A cookie the origin of ``url`` has set, URL-decoded."""
        value = self.client(url).cookies.get(name)
        return None if value is None else unquote(value)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, no redirect followed."""
        response = self.client(url).request(method, url, follow_redirects=False, **kwargs)
        self.hops.append(Hop(method, url, response.status_code, response.headers.get("location")))
        return response

    def open(
        self,
        method: str,
        url: str,
        *,
        stop_at: Callable[[str], bool] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """A request, then its redirects (GET) until a page answers or ``stop_at`` (default:
        the browser's) says stop; the last response received."""
        stop = stop_at or self.stop_at
        response = self.request(method, url, **kwargs)
        for _ in range(MAX_REDIRECTS):
            location = response.headers.get("location")
            if not response.is_redirect or location is None:
                return response
            target = urljoin(str(response.url), location)
            self.last_url = target
            if stop(target):
                return response
            response = self.request("GET", target)
        raise AssertionError(f"more than {MAX_REDIRECTS} redirects: {self.hops}")

    def submit(
        self, form: Form, *, stop_at: Callable[[str], bool] | None = None, **values: str
    ) -> httpx.Response:
        data = {**form.fields, **values}
        return self.open(form.method, form.action, stop_at=stop_at, data=data)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
