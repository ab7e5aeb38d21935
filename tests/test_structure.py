"""The photo's structure on a painting with strong forms of its own: the Laplacian term (issue 22)."""

from pathlib import Path

import torch

import impasto
from impasto import TransferConfig
from impasto.objective import _Edges
from impasto.score import score

from .conftest import EXAMPLES, small

UDNIE = Path(__file__).parent / "images" / "udnie.jpg"  # Picabia's Udnie: large flat geometric forms


def test_the_laplacian_term_keeps_the_photos_structure_on_udnie(tmp_path) -> None:
    photo = EXAMPLES / "tubingen.jpg"
    figures = {}
    for weight in (0.0, TransferConfig().laplacian_weight):
        config = TransferConfig(size=192, iterations=60, seed=0, laplacian_weight=weight)
        result = impasto.transfer(photo, UDNIE, config)
        impasto.save_image(result.image, tmp_path / f"{weight}.png")
        figures[weight] = score(tmp_path / f"{weight}.png", photo, UDNIE)
    without, with_term = figures.values()
    assert with_term.structure > without.structure + 0.03, (without.structure, with_term.structure)
    assert with_term.edges > without.edges


def test_texture_where_the_photo_is_flat_costs_less_than_on_its_edges() -> None:
    """The term counts positions by the photo's edges there: the painting's strokes in flat sky are
    nearly free, the same strokes over the houses are not."""
    photo = small(EXAMPLES / "tubingen.jpg", 128)  # 128x96: the sky is flat above row 30 from column 30 to 75
    edges = _Edges(photo, TransferConfig(), (96, 128))
    strokes = 0.2 * torch.randn((1, 3, 24, 24), generator=torch.Generator().manual_seed(0))
    costs = {}
    for name, (top, left) in {"sky": (4, 40), "houses": (50, 96)}.items():
        painted = photo.clone()
        painted[..., top:top + 24, left:left + 24] += strokes
        costs[name] = edges(painted).item()
    assert edges(photo).item() < 1e-9
    assert costs["sky"] < 0.25 * costs["houses"], costs


def test_the_finest_level_paints_texture_over_the_lines_the_coarser_ones_laid(tmp_path) -> None:
    """`laplacian_finest`: the term at its full weight on the coarse level only keeps most of the
    photo's structure that it keeps on both, and leaves the painting's texture at the finest."""
    photo = EXAMPLES / "tubingen.jpg"
    figures = {}
    for name, changes in {"none": {"laplacian_weight": 0.0}, "coarse": {"laplacian_finest": 0.0},
                          "both": {"laplacian_finest": 1.0}}.items():
        config = TransferConfig(size=256, iterations=60, seed=0, **changes)  # 40 steps at 128 px, 20 at 256 px
        impasto.save_image(impasto.transfer(photo, UDNIE, config).image, tmp_path / f"{name}.png")
        figures[name] = score(tmp_path / f"{name}.png", photo, UDNIE)
    assert figures["coarse"].structure > figures["none"].structure + 0.02, figures
    assert figures["coarse"].texture < figures["both"].texture, figures
