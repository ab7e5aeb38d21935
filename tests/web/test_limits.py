"""What a server refuses up front (too many iterations, a run its memory cannot hold: the run's own
planner decides) and how a job that fails only when it runs ends: failed, with one line, and one line
in the log."""

from __future__ import annotations

import io
import logging

from PIL import Image

from impasto.config import TransferConfig
from impasto.errors import ConfigError
from impasto.images import longest_side, resize_longest
from impasto.memory import largest_planned_side
from impasto.pipeline import plan_transfer
from impasto.web.runners import LocalRunner
from impasto.web.settings import ServerSettings
from impasto.web.store import JobStore

from .conftest import TINY, app_client, idle_client, run_budget_mb, upload, wait_for


def test_iterations_over_the_servers_limit_are_refused_with_the_limit(tmp_path, photo, painting) -> None:
    default = ServerSettings().max_iterations
    assert default == 2 * max(TransferConfig.from_preset(name).iterations for name in ("fast", "best", "paper"))
    client = idle_client(tmp_path / "data")
    assert client.get("/api/options").json()["limits"]["max_iterations"] == default
    refused = client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 100_000}))
    assert refused.status_code == 422
    assert refused.json()["detail"] == (f"iterations must be at most {default:,} on this server "
                                        "(impasto serve --max-iterations), got 100,000")
    assert client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": default})).status_code == 201

    strict = idle_client(tmp_path / "strict", max_iterations=50)
    assert strict.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 51})).status_code == 422
    assert strict.post("/api/jobs", **upload(photo, painting, {"size": 48, "preset": "fast"})).status_code == 422
    assert strict.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 50})).status_code == 201


def test_a_job_is_admitted_exactly_when_its_run_can_be_planned(tmp_path, photo, painting) -> None:
    """The memory check is the run's planner on the run's image and settings (a run of the default
    iterations keeps at least 2 L-BFGS pairs): the largest size it plans is accepted, one more is
    refused with the planner's own line."""
    budget_mb = run_budget_mb(1000)  # for sizes in blocks, where 1 history pair (the web once planned) fits more
    budget = int(budget_mb * 2**20)
    client = idle_client(tmp_path / "data", memory_budget_mb=budget_mb)
    held = client.app.state.held  # what the server's admissions count as held, as its runs would
    content = Image.open(io.BytesIO(photo)).convert("RGB")

    def planned(size: int) -> str | None:
        """None if the run of `size` can be planned in the budget, else why not."""
        config = TransferConfig(size=size, memory_budget=budget, device="cpu")
        try:
            plan_transfer(resize_longest(content, size), config, held)
        except ConfigError as error:
            return str(error)
        return None

    low, high = 16, 4096
    assert planned(low) is None and planned(high) is not None
    while high - low > 1:
        low, high = ((low + high) // 2, high) if planned((low + high) // 2) is None else (low, (low + high) // 2)
    options = client.get("/api/options").json()["limits"]
    assert options["memory_budget_bytes"] == budget
    shown = longest_side((4, 3), largest_planned_side(client.app.state.runtime, (4, 3), TransferConfig()))
    assert options["max_run_pixels"]["default"] == shown[0] * shown[1]

    accepted = client.post("/api/jobs", **upload(photo, painting, {"size": low}))
    assert accepted.status_code == 201 and accepted.json()["config"]["memory_budget"] == budget
    refused = client.post("/api/jobs", **upload(photo, painting, {"size": high}))
    assert refused.status_code == 422 and refused.json() == {"detail": planned(high)}


def test_an_image_damaged_before_its_run_fails_the_job_with_one_line(tmp_path, caplog) -> None:
    data = tmp_path / "data"
    store = JobStore(data)
    image = Image.new("RGB", (48, 36), "gray")
    job = store.add(image, image, settings={}, config=TransferConfig(**TINY).to_dict(), content_name="a.png",
                    style_name="b.png")
    store.close()
    content = data / "jobs" / job.id / "content.png"
    content.write_bytes(content.read_bytes()[:100])  # the disk lost the rest before the server started again

    with caplog.at_level(logging.INFO, "impasto.web"), app_client(data) as client:
        failed = wait_for(client, job.id, {"failed"})
    assert "is truncated or corrupt" in failed["error"] and "\n" not in failed["error"]
    assert not [record for record in caplog.records if record.exc_info], "no traceback in the log"


def test_an_unexpected_error_in_a_run_fails_the_job_with_one_line_in_the_log(tmp_path, photo, painting, caplog,
                                                                             monkeypatch) -> None:
    def run(*args: object) -> None:
        raise RuntimeError("the device went away\nmid-run")

    monkeypatch.setattr(LocalRunner, "run", run)
    with caplog.at_level(logging.INFO, "impasto.web"), app_client(tmp_path / "data") as client:
        job = client.post("/api/jobs", **upload(photo, painting)).json()
        failed = wait_for(client, job["id"], {"failed"})
    assert failed["error"] == "internal error (RuntimeError): see the server's log"
    [line] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert line.exc_info is None and line.getMessage() == (
        f"job {job['id']}: failed: RuntimeError: the device went away mid-run (at test_limits.py:"
        f"{run.__code__.co_firstlineno + 1} in run)")
