"""`impasto serve`: the app under uvicorn, with a line saying where it is and what it may run."""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ..memory import largest_planned_side
from .app import create_app
from .settings import ServerSettings

__all__ = ["deadline_protocol", "serve"]

TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


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
                log_config=_log_config(), proxy_headers=False,
                http=deadline_protocol(AutoHTTPProtocol, settings.header_timeout, settings.body_timeout))


def deadline_protocol(base: type[asyncio.Protocol], header_seconds: float, body_seconds: float) -> type[Any]:
    """uvicorn's HTTP protocol `base` (h11's or httptools') with two deadlines, against clients that
    hold a connection by sending slowly: a request's headers must have arrived `header_seconds`
    after its first byte (or after the connection opened), and its body `body_seconds` after its
    headers. A request past its deadline gets a 408 and the connection is closed. (uvicorn's own
    timeout_keep_alive covers only the wait between requests.)"""

    class Deadlines(base):  # type: ignore[valid-type, misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._deadline: asyncio.TimerHandle | None = None
            self._timed: object = None  # the request cycle whose body the deadline is for; None: headers
            self._check()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._check()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel()
            super().connection_lost(exc)

        def _check(self) -> None:
            """Arm, move or drop the deadline for where the connection's current request is."""
            cycle = self.cycle
            if cycle is None or cycle.response_complete:  # waiting for (the rest of) a request's headers
                if self._deadline is None or self._timed is not None:
                    self._arm(header_seconds, None)
            elif cycle.more_body:  # its headers are in, its body is coming
                if self._timed is not cycle:
                    self._arm(body_seconds, cycle)
            else:
                self._cancel()

        def _arm(self, seconds: float, cycle: object) -> None:
            self._cancel()
            self._timed = cycle
            self._deadline = self.loop.call_later(seconds, self._expire)

        def _cancel(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                cycle = self.cycle
                if cycle is None or cycle.response_complete or not cycle.response_started:
                    self.transport.write(TIMED_OUT)
                self.transport.close()

    Deadlines.__name__ = Deadlines.__qualname__ = f"Deadlines{base.__name__}"
    return Deadlines


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
