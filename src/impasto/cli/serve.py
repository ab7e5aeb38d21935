"""`impasto serve`: the web app (the optional extra impasto[web], imported only when it starts)."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import secrets
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..web.settings import ServerSettings
from .common import EXIT_USAGE

WEB_EXTRA = ("fastapi", "uvicorn", "starlette", "multipart", "python_multipart")
"""The modules of the optional extra impasto[web]."""
RAY_EXTRA = ("ray",)
"""What `--ray` needs besides: impasto[ray]."""

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    d = ServerSettings()
    serve = commands.add_parser(
        "serve",
        help="the web app: upload a photo and a painting, watch the painting emerge (needs impasto[web])",
        description="Serve the web app and its JSON API (docs at /docs). Jobs and their images are kept in "
        "--data-dir; a restart finishes the jobs that were queued or running.",
        epilog="example: impasto serve --port 8000, then open http://127.0.0.1:8000",
    )
    serve.add_argument("--host", default=d.host, help="address to listen on (0.0.0.0 serves the whole network)")
    serve.add_argument("--port", type=int, default=d.port, help="port to listen on")
    serve.add_argument("--data-dir", type=Path, default=d.data_dir, metavar="DIR", help="where jobs are kept")
    serve.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb, metavar="MB",
                       help="largest uploaded image")
    serve.add_argument("--max-video-mb", type=float, default=d.max_video_mb, metavar="MB",
                       help="largest uploaded clip")
    serve.add_argument("--max-frames", type=int, default=d.max_frames, metavar="N",
                       help="most frames a video job may paint (frames x passes)")
    serve.add_argument(
        "--max-pixels", type=int, default=d.max_pixels, metavar="N", help="largest uploaded image in pixels"
    )
    serve.add_argument("--decode-slots", type=int, default=d.decode_slots, metavar="N",
                       help="uploads decoded at once, each in a child process (503 beyond)")
    serve.add_argument("--decode-memory-mb", type=float, default=d.decode_memory_mb, metavar="MB",
                       help="memory one upload's decoding may take, whatever the file claims (413 beyond)")
    serve.add_argument("--decode-seconds", type=float, default=d.decode_seconds, metavar="S",
                       help="seconds one upload's decoding may take (422 beyond)")
    serve.add_argument("--max-queue", type=int, default=d.max_queue, metavar="N", help="most jobs waiting at once")
    serve.add_argument("--max-disk", dest="max_disk_gb", type=float, default=d.max_disk_gb, metavar="GB",
                       help="most the jobs may hold in the data dir, counting what waiting jobs may come to "
                       "(507 beyond)")
    serve.add_argument("--keep-days", type=float, default=d.keep_days, metavar="DAYS",
                       help="days an ended job is kept before it is removed with its files (0: for ever)")
    serve.add_argument("--max-iterations", type=int, default=d.max_iterations, metavar="N",
                       help="most iterations a job may ask for (a clip's: of each frame)")
    serve.add_argument("--max-train-steps", type=int, default=d.max_train_steps, metavar="N",
                       help="most steps a clip's network may train for (mode keyframes)")
    serve.add_argument(
        "--memory-budget-mb",
        type=float,
        metavar="MB",
        help="the most memory the server's process may hold while a job runs; each run plans within it and "
        "larger sizes are refused (default: what the process holds and the device has free at start-up)",
    )
    serve.add_argument(
        "--device", default=d.device, help="auto (a worker per CUDA GPU, else the CPU), cpu, cuda:N or mps"
    )
    network = serve.add_argument_group("facing a network")
    network.add_argument(
        "--token",
        help="require this token of every request (default beyond loopback, behind --trusted-proxy or with "
        "--allowed-host: one made up and printed at start-up)",
    )
    network.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the server answers to, besides its IP addresses and localhost; repeat for more",
    )
    network.add_argument(
        "--rate-limit", type=int, default=d.rate_limit, metavar="N", help="most new jobs per client per minute"
    )
    network.add_argument(
        "--trusted-proxy",
        dest="trusted_proxies",
        action="append",
        default=[],
        metavar="ADDR",
        help="the IP address (or network, 10.0.0.0/8) of a proxy in front of the server whose X-Forwarded-For "
        "and X-Forwarded-Proto are believed (the rate limit then counts the client it names); repeat for more",
    )
    network.add_argument("--client-queue", type=int, default=d.client_queue, metavar="N",
                         help="most jobs one client address may have waiting or running (429 beyond)")
    network.add_argument("--client-disk-mb", type=float, default=d.client_disk_mb, metavar="MB",
                         help="most one client address's jobs may hold on disk (507 beyond)")
    network.add_argument("--header-timeout", type=float, default=d.header_timeout, metavar="S",
                         help="seconds a request's headers may take to arrive (408 beyond)")
    network.add_argument("--body-timeout", type=float, default=d.body_timeout, metavar="S",
                         help="seconds a request's body may take to arrive after its headers (408 beyond)")
    serve.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the jobs as tasks on a Ray cluster (auto, or its head's HOST:PORT) instead of local workers "
        "(needs impasto[ray])",
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    fields = {f.name for f in dataclasses.fields(ServerSettings)}
    given = {name: value for name, value in vars(args).items() if name in fields and value is not None}
    given["allowed_hosts"] = tuple(given.get("allowed_hosts", ()))
    given["trusted_proxies"] = tuple(_proxy(address) for address in given.get("trusted_proxies", ()))
    settings = ServerSettings(**given)
    if settings.token is None and settings.facing_network:  # beyond loopback or behind a proxy: never without one
        settings = dataclasses.replace(settings, token=secrets.token_urlsafe(24))
    for name in ("port", "max_upload_mb", "max_video_mb", "max_frames", "max_pixels", "max_queue", "max_iterations",
                 "max_train_steps", "memory_budget_mb", "rate_limit", "header_timeout", "body_timeout", "decode_slots",
                 "decode_memory_mb", "decode_seconds", "max_disk_gb", "client_queue", "client_disk_mb"):
        value = getattr(settings, name)
        if value is not None and value <= 0:
            raise ConfigError(f"--{_option(name)} must be positive, got {value:g}")
    if settings.keep_days < 0:
        raise ConfigError(f"--keep-days must be 0 (for ever) or more, got {settings.keep_days:g}")
    try:
        from ..web.server import serve

        serve(settings)
    except ModuleNotFoundError as error:
        if error.name not in (*WEB_EXTRA, *RAY_EXTRA):
            raise
        extra = "ray" if error.name in RAY_EXTRA else "web"
        print(f"impasto: error: the web app{' on Ray' if extra == 'ray' else ''} needs {error.name}: "
              f"pip install 'impasto[{extra}]'", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _option(name: str) -> str:
    """A setting's option: max_disk_gb -> max-disk."""
    return {"max_disk_gb": "max-disk"}.get(name, name.replace("_", "-"))


def _proxy(address: str) -> str:
    """A --trusted-proxy value, checked: uvicorn would take a mistyped one as a name that no peer has."""
    try:
        ipaddress.ip_network(address)
        return address
    except ValueError:
        raise ConfigError(f"--trusted-proxy must be an IP address or a network such as 10.0.0.0/8, "
                          f"got {address!r}") from None
