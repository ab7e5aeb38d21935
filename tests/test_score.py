"""impasto score: quality figures of a result against its photo and painting."""

import json

import pytest
import torch
import torch.nn.functional as F

import impasto
from impasto.cli import main
from impasto.images import load_image, resize_longest, to_tensor
from impasto.score import score, texture_distance

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
    assert figures.outlines == pytest.approx(1, abs=1e-5) and figures.structure == pytest.approx(1)
    painting = score(STARRY, PHOTO, STARRY)
    assert painting.style_mean < 0.05 and painting.color < 0.01


def test_structure_counts_the_photos_edges_not_the_texture_between_them(tmp_path) -> None:
    photo = to_tensor(resize_longest(load_image(PHOTO, 10**8), 128))
    noise = 0.25 * torch.randn(photo.shape, generator=torch.Generator().manual_seed(0))
    impasto.save_image((photo + noise).clamp(0, 1), tmp_path / "textured.png")
    impasto.save_image(to_tensor(load_image(STARRY, 10**8).resize((128, 96))), tmp_path / "unrelated.png")
    textured, unrelated = (score(tmp_path / name, PHOTO, STARRY) for name in ("textured.png", "unrelated.png"))
    assert textured.edges < 0.5 < 0.6 < textured.structure, "texture everywhere, the photo's edges still there"
    assert abs(unrelated.structure) < 0.1


def test_a_stylised_photo_moves_toward_the_painting(stylised) -> None:
    photo, result = score(PHOTO, PHOTO, STARRY), score(stylised, PHOTO, STARRY)
    assert all(result.style[name] < photo.style[name] for name in photo.style)
    assert result.color < photo.color
    assert 0 < result.content < 1.5 and 0.2 < result.edges < 1 and 0.2 < result.structure < 1


def test_texture_is_the_paintings_and_rises_with_strength() -> None:
    painting = to_tensor(resize_longest(load_image(STARRY, 10**8), 96))
    photo = to_tensor(resize_longest(load_image(PHOTO, 10**8), 96))
    results = {strength: impasto.stylize(PHOTO, STARRY, size=96, iterations=40, seed=0, strength=strength)
               for strength in (0.5, 0.75)}
    texture = {strength: texture_distance(to_tensor(image), painting) for strength, image in results.items()}
    blurred = F.avg_pool2d(F.pad(to_tensor(results[0.5]), (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert texture_distance(painting, painting) == 0
    assert texture[0.75] < texture[0.5] < min(texture_distance(photo, painting), texture_distance(blurred, painting))
    flat = torch.ones_like(painting) * torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1)
    assert texture_distance(flat, painting) == pytest.approx(1), "flat colour has no texture, whatever its colour"


def test_score_command(stylised, capsys) -> None:
    assert main(["score", str(stylised), "--content", str(PHOTO), "--style", str(STARRY)]) == 0
    out = capsys.readouterr().out
    assert "conv1_1" in out and "content" in out and "colour" in out and "edges" in out and "outlines" in out
    assert "structure" in out
    assert main(["score", str(stylised), "--content", str(PHOTO), "--style", str(STARRY), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) == {"style", "content", "color", "edges", "outlines", "structure", "texture", "style_mean"}
    assert main(["score", str(stylised), "--content", "missing.jpg", "--style", str(STARRY)]) == 2
    assert "missing.jpg" in capsys.readouterr().err
