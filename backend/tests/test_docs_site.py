"""The documentation site's hook (backend/scripts/mkdocs_hooks.py): how links of pages and of
included repository files are rewritten. On a small repository in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.mkdocs_hooks import INCLUDE, Site


@pytest.fixture
def site(tmp_path: Path) -> Site:
    for name in (
        "SECURITY.md",
        "backend/Dockerfile",
        "specs/plan.md",
        "docs/index.md",
        "docs/security.md",
        "docs/guides/deploying.md",
        "docs/benchmarks/README.md",
        "auth-server/README.md",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("# page\n")
    site = Site(tmp_path, tmp_path / "docs", repo_url=None)
    site.mirrors[tmp_path / "SECURITY.md"] = "security.md"
    site.mirrors[tmp_path / "specs" / "plan.md"] = "design/plan.md"
    return site


def rewrite(site: Site, text: str, written_in: str, page: str) -> str:
    return site.rewrite(text, site.root / written_in, page)


def test_a_link_to_a_shown_file_goes_to_its_page(site: Site) -> None:
    text = "[plan](specs/plan.md#request-path) and [threats](SECURITY.md)"
    assert rewrite(site, text, ".", "index.md") == (
        "[plan](design/plan.md#request-path) and [threats](security.md)"
    )
    # the same links, written from a page one folder down
    text = "[plan](../../specs/plan.md) [threats](../../SECURITY.md)"
    assert rewrite(site, text, "docs/guides", "guides/deploying.md") == (
        "[plan](../design/plan.md) [threats](../security.md)"
    )


def test_an_included_files_links_are_rebased_onto_the_page(site: Site) -> None:
    # SECURITY.md (at the root) links docs/...; shown as docs/security.md, the link is relative
    text = "[flood](docs/benchmarks/README.md) [deploy](docs/guides/deploying.md#proxies)"
    assert rewrite(site, text, ".", "security.md") == (
        "[flood](benchmarks/README.md) [deploy](guides/deploying.md#proxies)"
    )


def test_a_folder_link_goes_to_its_readme(site: Site) -> None:
    assert rewrite(site, "[auth](auth-server)", ".", "index.md") == "auth (`auth-server`)"
    site.mirrors[site.root / "auth-server" / "README.md"] = "reference/auth-server.md"
    assert rewrite(site, "[auth](auth-server/)", ".", "index.md") == (
        "[auth](reference/auth-server.md)"
    )


def test_other_repository_files_become_their_path(site: Site) -> None:
    assert rewrite(
        site, "[`backend/Dockerfile`](../../backend/Dockerfile)", "docs/guides", "g.md"
    ) == ("`backend/Dockerfile`")
    assert rewrite(site, "the [image](../../backend/Dockerfile)", "docs/guides", "g.md") == (
        "the image (`backend/Dockerfile`)"
    )


def test_with_a_repository_url_they_link_there(site: Site) -> None:
    site.repo_url = "https://example.org/team/project"
    assert rewrite(site, "[image](backend/Dockerfile#L3)", ".", "index.md") == (
        "[image](https://example.org/team/project/blob/main/backend/Dockerfile#L3)"
    )


def test_what_is_not_a_relative_link_stays(site: Site) -> None:
    text = (
        "[web](https://example.org) [top](#top) [missing](nothing/here.md) "
        "`[code](SECURITY.md)`\n```\n[fenced](SECURITY.md)\n```\n"
    )
    assert rewrite(site, text, ".", "index.md") == text


def test_reference_definitions_are_rewritten(site: Site) -> None:
    assert rewrite(site, "[threats]: SECURITY.md\n", ".", "guides/x.md") == (
        "[threats]: ../security.md\n"
    )


def test_only_a_whole_line_of_markdown_is_an_include() -> None:
    assert INCLUDE.findall('--8<-- "SECURITY.md"\n--8<-- "README.md:request-path"\n') == [
        "SECURITY.md"
    ]
