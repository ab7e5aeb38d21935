"""`impasto serve`: the app under uvicorn, with a line saying where it is and what it may run."""

from __future__ import annotations

import logging

import uvicorn

from ..memory import largest_planned_side
from .app import create_app
from .settings import ServerSettings

__all__ = ["serve"]


def serve(settings: ServerSettings) -> None:
    """Serve until Ctrl-C or SIGTERM; a job running then is queued again and resumes at the next start."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    devices = ", ".join(str(device) for device in app.state.manager.devices)
    largest = largest_planned_side(app.state.runtime, (4, 3))
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    link = f"http://{host}:{settings.port}/" + (f"?token={settings.token}" if settings.token else "")
    logging.getLogger("impasto.web").info(
        "impasto: %s (API docs at /docs); jobs in %s; workers: %s; the process may hold %.1f GiB "
        "(up to about %d px at 4:3)",
        link, settings.data_dir, devices, app.state.memory_budget / 2**30, largest,
    )
    # SSE streams stay open: do not wait for browsers to close them on shutdown.
    uvicorn.run(app, host=settings.host, port=settings.port, timeout_graceful_shutdown=2, log_level="info")
