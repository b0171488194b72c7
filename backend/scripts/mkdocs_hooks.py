"""MkDocs hooks (``hooks:`` in mkdocs.yml): the site shows the repository's own Markdown files,
and its links work wherever they point in the repository.

- **Mirror pages.** A page under ``docs/`` whose whole text is ``--8<-- "SECURITY.md"`` shows that
  repository file, so README, SECURITY, CHANGELOG and the specs stay where they are (and keep
  rendering on a Git host) and appear in the site too. Their relative links are rebased: they
  were written from the included file's folder, and now sit in the page's.
- **Links into the repository.** A relative link (in any page) to a repository file that a mirror
  page shows goes to that page; to a file under ``docs/``, to its page; to a folder with a
  ``README.md`` or ``index.md``, to that page. A link to any other file of the repository (a test,
  a Dockerfile) points at ``repo_url`` when mkdocs.yml sets one, and otherwise becomes the file's
  path in code: there is nothing to link to in a site built from a clone. A link to nothing is
  left alone, and ``--strict`` fails the build on it.
- **Snippets.** ``pymdownx.snippets`` (the tutorial's code) reads paths from the repository root,
  wherever ``mkdocs`` is started from.

Only the standard library and MkDocs: MkDocs loads this file by path.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

INCLUDE = re.compile(r'^--8<--\s+"([^"]+\.md)"\s*$', re.MULTILINE)
# Code (left as it is) or a link, whichever starts first: a fence, an inline code span, an inline
# link or image ``[text](target "title")``, a reference definition ``[label]: target``.
_TOKENS = re.compile(
    r"(?P<fence>^(?P<mark>```|~~~)[^\n]*\n.*?^(?P=mark)[^\n]*$)"
    r"|(?P<code>(?P<ticks>`+).+?(?P=ticks))"
    r"|(?P<link>(?P<bang>!?)\[(?P<text>(?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?(?P<target>[^)\s>]+)>?"
    r'(?P<title>\s+"[^"]*")?\s*\))'
    r"|(?P<ref>^(?P<label>\s*\[[^\]]+\]:\s*)<?(?P<reftarget>\S+?)>?(?P<reftitle>\s+\"[^\"]*\")?$)",
    re.MULTILINE | re.DOTALL,
)
_EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|#|/)", re.IGNORECASE)


class Site:
    """Where things are: the repository, ``docs/``, and which page shows which file."""

    def __init__(self, root: Path, docs: Path, repo_url: str | None) -> None:
        self.root = root
        self.docs = docs
        self.repo_url = (repo_url or "").rstrip("/")
        self.mirrors: dict[Path, str] = {}  # repository file -> src_uri of the page showing it

    def target(self, written: str, base: Path, page_uri: str) -> str | None:
        """The link to put in the page for ``written`` (relative to ``base``); ``None``: no link,
        only the file's repository path."""
        path, _, fragment = written.partition("#")
        if _EXTERNAL.match(written) or not path:
            return written
        resolved = self.resolve(path, base)
        if resolved.is_dir():
            resolved = next(
                (resolved / n for n in ("index.md", "README.md") if (resolved / n).is_file()),
                resolved,
            )
        page_dir = posixpath.dirname(page_uri)
        anchor = f"#{fragment}" if fragment else ""
        if resolved in self.mirrors:
            return posixpath.relpath(self.mirrors[resolved], page_dir) + anchor
        if self._inside(resolved, self.docs):
            return posixpath.relpath(resolved.relative_to(self.docs).as_posix(), page_dir) + anchor
        if not (resolved.exists() and self._inside(resolved, self.root)):
            return written  # nothing there: --strict reports it
        if self.repo_url:
            return f"{self.repo_url}/blob/main/{self.repository_path(resolved)}{anchor}"
        return None

    @staticmethod
    def resolve(path: str, base: Path) -> Path:
        return Path(posixpath.normpath((base / unquote(path)).as_posix()))

    def repository_path(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @staticmethod
    def _inside(path: Path, folder: Path) -> bool:
        return path == folder or folder in path.parents

    def rewrite(self, text: str, base: Path, page_uri: str) -> str:
        """``text``'s links, written from folder ``base``, as the page ``page_uri`` needs them."""

        def replace(match: re.Match[str]) -> str:
            if match["link"]:
                written = match["target"]
                new = self.target(written, base, page_uri)
                if new is None:
                    return self._as_path(match["text"], written, base, image=bool(match["bang"]))
                return f"{match['bang']}[{match['text']}]({new}{match['title'] or ''})"
            if match["ref"]:
                new = self.target(match["reftarget"], base, page_uri)
                if new is None:
                    path = match["reftarget"].partition("#")[0]
                    new = self.repository_path(self.resolve(path, base))
                return f"{match['label']}{new}{match['reftitle'] or ''}"
            return match.group(0)  # code

        return _TOKENS.sub(replace, text)

    def _as_path(self, text: str, written: str, base: Path, *, image: bool) -> str:
        path = self.repository_path(self.resolve(written.partition("#")[0], base))
        if image:
            return f"![{text}]({written})"
        if text.strip("`").rstrip("/") and path.endswith(text.strip("`").rstrip("/")):
            return f"`{path}`"
        return f"{text} (`{path}`)"


_site: Site | None = None


def on_config(config: Any) -> Any:
    global _site  # noqa: PLW0603 - MkDocs calls module-level hooks; the build's state lives here
    root = Path(config.config_file_path).resolve().parent
    _site = Site(root, Path(config.docs_dir).resolve(), config.repo_url)
    snippets = config.mdx_configs.setdefault("pymdownx.snippets", {})
    snippets["base_path"] = [str(root)]
    return config


def on_files(files: Any, config: Any) -> Any:
    assert _site is not None
    for file in files.documentation_pages():
        match = INCLUDE.fullmatch(Path(file.abs_src_path).read_text(encoding="utf-8").strip())
        if match:
            _site.mirrors[(_site.root / match[1]).resolve()] = file.src_uri
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    assert _site is not None
    site = _site
    page_uri = page.file.src_uri
    own_base = Path(page.file.abs_src_path).resolve().parent
    parts: list[str] = []
    position = 0
    for match in INCLUDE.finditer(markdown):
        parts.append(site.rewrite(markdown[position : match.start()], own_base, page_uri))
        included = (site.root / match[1]).resolve()
        text = included.read_text(encoding="utf-8")
        parts.append(site.rewrite(text, included.parent, page_uri))
        position = match.end()
    parts.append(site.rewrite(markdown[position:], own_base, page_uri))
    return "".join(parts)
