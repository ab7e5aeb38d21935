"""`impasto serve`: the app under uvicorn, with a line saying where it is and what it may run."""

from __future__ import annotations

import copy
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode

import uvicorn

from ..memory import largest_planned_side
from .app import create_app
from .settings import ServerSettings

__all__ = ["serve"]


def serve(settings: ServerSettings) -> None:
    """Serve until Ctrl-C or SIGTERM; a job running then is queued again and resumes at the next start."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    # Pillow logs what it finds wrong in a damaged upload as an ERROR; the client's 422 says it already.
    logging.getLogger("PIL").setLevel(logging.CRITICAL)
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
    # SSE streams stay open: do not wait for browsers to close them on shutdown. Proxy headers are
    # read by the app, from --trusted-proxy's addresses only (uvicorn's own default trusts 127.0.0.1).
    uvicorn.run(app, host=settings.host, port=settings.port, timeout_graceful_shutdown=2, log_level="info",
                log_config=_log_config(), proxy_headers=False)


class _HideToken(logging.Filter):
    """Replaces the value of `?token=` in a log record's URLs (the access log's): whoever reads the
    log should not get the key to the server."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_token(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def _without_token(url: str) -> str:
    path, mark, query = url.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    if not mark or all(name != "token" for name, _ in pairs):
        return url
    return f"{path}?{urlencode([(name, 'hidden' if name == 'token' else value) for name, value in pairs])}"


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with `_HideToken` on its access log."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"hide_token": {"()": _HideToken}}
    config["handlers"]["access"]["filters"] = ["hide_token"]
    return config
