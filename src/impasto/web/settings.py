"""The server's own settings: where it keeps jobs, its limits and its devices.

This module imports nothing from the web extra, so the CLI can show these defaults in its help
without FastAPI installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import TransferConfig
from ..video.config import TRAIN_STEPS_MAX

__all__ = ["ServerSettings", "default_data_dir"]


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/impasto, or ~/.local/share/impasto."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "impasto"


@dataclass(frozen=True)
class ServerSettings:
    """Settings of `impasto serve`; the CLI's options have the same names."""

    data_dir: Path = field(default_factory=default_data_dir)
    """Jobs' state (SQLite) and images live here."""
    host: str = "127.0.0.1"
    """Loopback by default: the app has no accounts, so it serves this machine only unless told."""
    port: int = 8000
    max_upload_mb: float = 20.0
    """Largest uploaded image file, in MiB (413 beyond)."""
    max_video_mb: float = 100.0
    """Largest uploaded clip, in MiB (413 beyond)."""
    max_frames: int = 300
    """Most frames a video job may paint, over all its passes (413 beyond): 10 s at 30 fps."""
    max_pixels: int = TransferConfig.max_pixels
    """Largest uploaded image, in pixels (413 beyond)."""
    decode_slots: int = 2
    """Uploads decoded at once, each in a child process (503 beyond them and a few waiting)."""
    decode_memory_mb: float = 1024.0
    """Memory one upload's decoding may take, in MiB, whatever its file claims (413 beyond): a
    50-megapixel image with alpha."""
    decode_seconds: float = 20.0
    """Seconds one upload's decoding may take (422 beyond)."""
    max_queue: int = 20
    """Most jobs waiting at once (429 beyond)."""
    max_disk_gb: float = 20.0
    """Most bytes the jobs may hold in the data dir, in GiB, counting what queued and running jobs may
    come to (507 beyond)."""
    client_queue: int = 5
    """Most jobs one client address may have waiting or running (429 beyond)."""
    client_disk_mb: float = 2048.0
    """Most bytes one client address's jobs may hold, in MiB (507 beyond)."""
    keep_days: float = 30.0
    """Days an ended job is kept before it is removed with its files; 0 keeps them for ever."""
    max_iterations: int = 2000
    """Most iterations a job may ask for (422 beyond): twice the longest preset's. A clip's
    `later_iterations` and `refine` (steps of each frame) are held to it too."""
    max_train_steps: int = 2 * TRAIN_STEPS_MAX
    """Most steps the network of a clip's job in `mode` 'keyframes' may train for (422 beyond), its
    `train_steps` or the default for its frames: twice the most the default gives."""
    memory_budget_mb: float | None = None
    """Memory a run may take, in MiB; None measures what the device has free at start-up."""
    device: str = "auto"
    """'auto' runs one worker on each CUDA GPU, or one on the CPU (or Apple GPU); or one named device."""
    token: str | None = None
    """Required of every request when set (see web/guard.py); `impasto serve` makes one up when the
    server faces a network (`facing_network`)."""
    allowed_hosts: tuple[str, ...] = ()
    """Names the server answers to besides its IP addresses and localhost (against DNS rebinding)."""
    rate_limit: int = 30
    """Most new jobs per client address per minute (429 beyond)."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses (or networks) of proxies whose X-Forwarded-For and X-Forwarded-Proto are believed:
    a request from one counts for the client it names, and is HTTPS if the proxy says so."""
    header_timeout: float = 10.0
    """Seconds a request's headers may take to arrive (408 and the connection closed beyond): a client
    that sends them slowly holds a connection no longer."""
    body_timeout: float = 120.0
    """Seconds a request's body may take to arrive after its headers (408 beyond): a clip at the
    video limit over 7 Mbit/s."""
    ray: str | None = None
    """Run jobs as tasks on this Ray cluster ('auto' or HOST:PORT) rather than in local worker threads."""

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def max_disk_bytes(self) -> int:
        return int(self.max_disk_gb * 2**30)

    @property
    def client_disk_bytes(self) -> int:
        return int(self.client_disk_mb * 2**20)

    @property
    def decode_memory_bytes(self) -> int:
        return int(self.decode_memory_mb * 2**20)

    @property
    def max_video_bytes(self) -> int:
        return int(self.max_video_mb * 2**20)

    @property
    def loopback(self) -> bool:
        """Whether the server listens on this machine only."""
        return self.host in ("localhost", "127.0.0.1", "::1")

    @property
    def facing_network(self) -> bool:
        """Whether others can reach the server: it listens beyond loopback, or a proxy in front of it
        (`trusted_proxies`) or a name of its own (`allowed_hosts`) lets them in. It then needs a token."""
        return not self.loopback or bool(self.trusted_proxies) or bool(self.allowed_hosts)
