"""A real Ray cluster for the tests: `ray start --head` on loopback in a temporary folder, with token
authentication (its token in a file there), once per session, stopped at the end (its whole process
group: the head's services and its workers)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

RAY = Path(sys.executable).with_name("ray")
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Ray then takes 127.0.0.1 as the node's address and listens there only."""
RAY_SETTINGS = ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
"""Ray's settings that the tests' processes never take from the environment pytest runs in."""


def ray_env(token: Path | None = None) -> dict[str, str]:
    """The environment of processes that use Ray on loopback: this one without Ray's settings, and
    with token authentication with the token in the file `token` if one is given."""
    env = {name: value for name, value in os.environ.items() if name not in RAY_SETTINGS}
    auth = {} if token is None else {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    return {**env, **LOOPBACK, "RAY_USAGE_STATS_ENABLED": "0", **auth}


@dataclass(frozen=True)
class Cluster:
    address: str
    """127.0.0.1:PORT"""
    group: int
    """The session of the head and its workers (its process group is that of the head and its services)."""
    token: Path
    """The file with the cluster's authentication token."""

    @property
    def env(self) -> dict[str, str]:
        """The environment of the cluster's clients, with its token."""
        return ray_env(self.token)

    def task_processes(self, name: str) -> list[int]:
        """Pids of the workers now running the task `name` (Ray titles them 'ray::NAME')."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.getsid(int(entry.name)) == self.group and \
                            (entry / "cmdline").read_bytes().startswith(f"ray::{name}".encode()):
                        pids.append(int(entry.name))
        return pids


@pytest.fixture(scope="package")  # stopped once the cluster's tests are done, not at the suite's end
def ray_cluster() -> Iterator[Cluster]:
    """A running two-CPU Ray cluster on loopback that wants its token of every client."""
    folder = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32))
    log = open(folder / "head.log", "wb")  # noqa: SIM115 - open for the cluster's whole life
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--port=0", f"--temp-dir={folder}", "--num-cpus=2",
         "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats"],
        stdout=log, stderr=subprocess.STDOUT, env=ray_env(token), start_new_session=True,
    )
    try:
        address_file = folder / "ray_current_cluster"
        deadline = time.monotonic() + 120
        while not address_file.is_file() or not address_file.read_text().strip():
            if head.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ray start failed:\n{(folder / 'head.log').read_text()}")
            time.sleep(0.2)
        yield Cluster(address_file.read_text().strip(), head.pid, token)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(5)  # the head takes 20 s and more to stop on SIGTERM: a test cluster need not
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        time.sleep(1)  # the raylet stops its workers
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)

