"""The docs a newcomer reads: every link leads somewhere, every `impasto` command in them is one the
command line takes, and the quick ones run as written (at a small size) on stand-ins for their files."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from PIL import Image

from impasto.cli import build_parser, main
from impasto.images import EXAMPLES

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
QUICK = {"transfer", "reconstruct", "figure", "score", "info"}
"""Commands run for real; video (and scores of videos), batch (a Ray instance) and serve have tests of
their own."""
SMALL = ["--size", "32", "--iterations", "2"]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _commands(page: Path) -> list[list[str]]:
    """The `impasto ...` lines of a page's sh blocks, continuations joined, comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", page.read_text(), re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["impasto"]:
                commands.append(words[1:])
    return commands


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor and linked.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.MULTILINE)
            assert anchor in {_anchor(heading) for heading in headings}, f"{page.name}: no heading for {target}"


def test_the_readme_reaches_every_page_in_one_click() -> None:
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", (ROOT / "README.md").read_text()))
    assert linked == {page.name for page in PAGES[1:]}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_command_in_the_docs_is_one_the_command_line_takes(page: Path) -> None:
    parser = build_parser()
    for words in _commands(page):
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"{page.name}: impasto {shlex.join(words)}")


def test_the_quick_commands_run_as_written(tmp_path, monkeypatch, capsys) -> None:
    """On small stand-ins for the files they name, `--size 32 --iterations 2` added to the runs that
    paint (a `--dry-run` runs as written)."""
    stand_ins = {"photo.jpg": "tubingen.jpg", "scream.jpg": "the_scream.jpg", "starry.jpg": "starry_night.jpg",
                 "painting.jpg": "starry_night.jpg", "a.jpg": "starry_night.jpg", "b.jpg": "the_scream.jpg"}
    for name, source in stand_ins.items():
        Image.open(EXAMPLES / source).resize((64, 48)).save(tmp_path / name)
    for name in ("sky.png", "town.png"):
        shutil.copy(EXAMPLES / f"tubingen_{name}", tmp_path / name)
    for path in EXAMPLES.iterdir():  # the spatial-control example runs in src/impasto/examples
        if path.suffix in (".jpg", ".png"):
            Image.open(path).resize((64, 48)).save(tmp_path / path.name)
    (tmp_path / "docs" / "images").mkdir(parents=True)  # the gallery's commands write there
    monkeypatch.chdir(tmp_path)
    commands = [words for page in PAGES for words in _commands(page)
                if words[0] in QUICK and "--video" not in words and "--address" not in words]  # Ray: tests/cluster
    commands.sort(key=lambda words: words[0] == "score")  # a score needs the output painted first
    assert len(commands) >= 15
    for words in commands:
        small = [] if words[0] in ("score", "info") or "--dry-run" in words else SMALL
        code = main([*words, *small])
        assert code == 0, f"impasto {shlex.join(words)}: {capsys.readouterr().err}"
