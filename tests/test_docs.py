"""The README and docs/ against the repository: generated tables current, links and cited paths real.

The results tables in README.md and docs/results.md are printed by results/table.py from the committed
repeat.json / tta.json files; after a new run, `python results/table.py --write` rewrites them.
"""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
# A code span that is nothing but a path into the repository, e.g. `src/mnistlab/models/frontier.py` or
# `examples/my_net.py:Net`; placeholders (<...>, *, {...}) are not paths and are left alone.
CITED = re.compile(r"`((?:src|results|research|benchmarks|tests|examples|docs)/[\w./+-]*)(?::\w+)?`")
WORDING = re.compile(r"session [0-9]|sessions [0-9]|the issue (asks|says)|s1[0-9]-gpu|/session[0-9]", re.I)


def table_module():
    spec = importlib.util.spec_from_file_location("results_table", ROOT / "results" / "table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prose(path: Path) -> str:
    """A Markdown file without its fenced code blocks (sample output is not a link or a citation)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", prose(path), re.M)}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("name,full", list(table_module().EMBEDS.items()))
def test_results_table_matches_the_committed_runs(name, full):
    table = table_module()
    text = (ROOT / name).read_text(encoding="utf-8")
    block = table.embedded(text)
    assert block is not None, f"{name} has no {table.START} ... {table.END} block"
    assert block == table.block(full), f"{name}'s results table is stale: run python results/table.py --write"


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_relative_links_point_into_the_repository(path):
    broken = []
    for target in LINK.findall(prose(path)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{rel(path)}: broken links {broken}"


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_cited_paths_exist(path):
    missing = sorted({p for p in CITED.findall(prose(path)) if not (ROOT / p).exists()})
    assert not missing, f"{rel(path)} cites paths that do not exist: {missing}"


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_speaks_of_the_project_alone(path):
    hits = [line for line in path.read_text(encoding="utf-8").splitlines() if WORDING.search(line)]
    assert not hits, f"{rel(path)}: {hits}"


def test_readme_is_a_five_minute_read():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text) < 12_500, f"README.md has {len(text)} characters; long forms belong in docs/"
    first_screens = "\n".join(text.splitlines()[:120])
    for needle in ("make train", "make test", "## Quick start", "results-table:start"):
        assert needle in first_screens, f"{needle!r} is not within README.md's first 120 lines"
