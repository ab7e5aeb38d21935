"""impasto score: quality figures of a result against its photo and painting."""

import json

import pytest

import impasto
from impasto.cli import main
from impasto.score import score

from .conftest import EXAMPLES

PHOTO, STARRY = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"


@pytest.fixture(scope="module")
def stylised(tmp_path_factory):
    path = tmp_path_factory.mktemp("score") / "out.png"
    impasto.save_image(impasto.stylize(PHOTO, STARRY, size=64, iterations=30, seed=0), path)
    return path


def test_the_photo_scores_as_itself_and_far_from_the_painting() -> None:
    figures = score(PHOTO, PHOTO, STARRY)
    assert figures.content == pytest.approx(0, abs=1e-6) and figures.edges == pytest.approx(1, abs=1e-5)
    assert figures.outlines == pytest.approx(1, abs=1e-5)
    painting = score(STARRY, PHOTO, STARRY)
    assert painting.style_mean < 0.05 and painting.color < 0.01


def test_a_stylised_photo_moves_toward_the_painting(stylised) -> None:
    photo, result = score(PHOTO, PHOTO, STARRY), score(stylised, PHOTO, STARRY)
    assert all(result.style[name] < photo.style[name] for name in photo.style)
    assert result.color < photo.color
    assert 0 < result.content < 1.5 and 0.2 < result.edges < 1


def test_score_command(stylised, capsys) -> None:
    assert main(["score", str(stylised), "--content", str(PHOTO), "--style", str(STARRY)]) == 0
    out = capsys.readouterr().out
    assert "conv1_1" in out and "content" in out and "colour" in out and "edges" in out and "outlines" in out
    assert main(["score", str(stylised), "--content", str(PHOTO), "--style", str(STARRY), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) == {"style", "content", "color", "edges", "outlines", "style_mean"}
    assert main(["score", str(stylised), "--content", "missing.jpg", "--style", str(STARRY)]) == 2
    assert "missing.jpg" in capsys.readouterr().err
