"""Choosing the compute device ('auto', 'cpu', 'cuda', 'cuda:N' or 'mps') and its arithmetic."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import DeviceError

__all__ = ["Runtime", "available_devices", "compute_dtype", "prepare_device", "resolve_device"]


@dataclass(frozen=True)
class Runtime:
    """Where a run computes, in which arithmetic, and how much memory it may take: resolved once from
    its settings (`memory.resolve_runtime`) and handed to the planner, the network and the optimiser."""

    device: torch.device
    dtype: torch.dtype
    """The network's arithmetic: float32 or bfloat16 (`compute_dtype`)."""
    budget: int
    """Bytes the run may take on `device` beyond what the process holds when it is planned."""
    host_budget: int | None = None
    """Bytes outside `device` that L-BFGS's history may take (a GPU's host); None where there is no second memory."""
    held: int = 0
    """Bytes of the memory budget taken before the run: what the process holds and the network still to load."""

    @property
    def precision(self) -> str:
        """'bf16' or 'fp32': the key of the planner's measured constants."""
        return "bf16" if self.dtype == torch.bfloat16 else "fp32"


def resolve_device(name: str) -> torch.device:
    """The torch device for `name`; 'auto' picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise DeviceError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {name!r} requested but this PyTorch sees no CUDA GPU: use --device cpu, or install "
                f"a CUDA build of torch"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            last = torch.cuda.device_count() - 1
            raise DeviceError(f"device {name!r} does not exist: this machine has cuda:0 to cuda:{last}")
    elif device.type == "mps" and not _mps_available():
        raise DeviceError(f"device {name!r} requested but MPS is not available here: use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {name!r}: use auto, cpu, cuda, cuda:N or mps")
    return device


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The network's arithmetic for `precision` ('auto', 'fp32' or 'bf16') on `device`: 'auto' is
    bfloat16 where the hardware computes it natively (CUDA from Ampere on; CPUs with AVX-512 BF16
    or AMX), where it runs about twice as fast with the same result (benchmarks/RESULTS.md)."""
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float32
    if device.type == "cpu" and _native_cpu_bf16():
        return torch.bfloat16
    return torch.float32


def prepare_device(device: torch.device) -> None:
    """Fast settings for a run on `device`: on CUDA, cuDNN picks its fastest kernels for the shapes
    at hand (they repeat every iteration) and float32 matrix products may use TF32."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def available_devices() -> list[str]:
    """Human-readable descriptions of the devices this PyTorch can use."""
    devices = [f"cpu ({torch.get_num_threads()} threads)"]
    for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        props = torch.cuda.get_device_properties(index)
        devices.append(f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.0f} GiB)")
    if _mps_available():
        devices.append("mps (Apple GPU)")
    return devices


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def _native_cpu_bf16() -> bool:
    try:  # a private check, the one oneDNN itself uses; absent from some builds
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
