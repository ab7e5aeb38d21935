"""Temporally consistent style transfer of clips (Ruder, Dosovitskiy & Brox 2016): `impasto video`.

Needs the optional extra impasto[video] (PyAV, OpenCV), which the core never imports:

    >>> from impasto.video import stylize_video
    >>> stylize_video("clip.mp4", "painting.jpg", "out.mp4")  # doctest: +SKIP

Modules: `config` (VideoConfig), `io` (decoding and muxing, PyAV), `flow` (OpenCV optical flow,
warping, the consistency check), `temporal` (the temporal loss term), `run` (the work dir, resume,
and the choice of loop), `frames` (every frame optimised), `keyframes` (keyframes optimised, the
rest carried along the flow or painted by the network), `propagate` (the network trained on the
clip), `progress` (the events), `score` (the warping error E_warp of a stylised clip). The names that need the
extra are imported on first use, so `VideoConfig` (and the CLI's help) works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import VideoConfig

if TYPE_CHECKING:
    from .run import FrameProgress, VideoResult, stylize_video
    from .score import VideoScore, score_video

__all__ = ["FrameProgress", "VideoConfig", "VideoResult", "VideoScore", "score_video", "stylize_video"]

_LAZY = {"FrameProgress": "run", "VideoResult": "run", "stylize_video": "run", "VideoScore": "score",
         "score_video": "score"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_LAZY[name]}", __name__), name)
