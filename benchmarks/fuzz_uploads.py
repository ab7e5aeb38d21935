"""Damaged images POSTed to a real `impasto serve` on loopback, and hostile requests among them: every
answer a 4xx or a 201, never a 5xx; no traceback in the server's log; nothing left in its data dir by
a refused job; the server's memory under the budget it was given; and another client answered
quickly throughout.

Real images (the bundled examples and any `--images` folders), downscaled to 24-96 px, are encoded
in JPEG, PNG, GIF, WebP, TIFF and BMP (a few variants each: progressive, palette, 16-bit, alpha,
lossless, compressions, ...) and damaged in one of four ways: bytes flipped, the end truncated, a
slice cut out, or header bytes set large. Each is sent as the photo or the painting of a job (the
other one clean) with tiny settings; a job that is accepted is deleted right away, so the server
spends next to no CPU running it. The server runs with its own temporary --data-dir on a free port
of 127.0.0.1 only, with one torch thread.

Every `HOSTILE_EVERY`th request is instead one of the hostile cases (issue 33), in turn: a crafted
file that is small but costs much to decode (BOMB_SIDE px square of one colour, each format in
turn), `BURST` such files at once, `SLOW` connections that never finish their headers (each must be
closed by the server), and hostile settings (JSON nested 100,000 deep, a 4,301-digit number). A
thread of "another client" asks for the job list every 0.2 s throughout; its latencies are reported.

    python benchmarks/fuzz_uploads.py --count 10000 --seed 0 --images /work/shared/images
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from impasto.images import EXAMPLES

FORMATS = {  # Pillow's format name: variants, (label, mode, save options)
    "JPEG": [("baseline", "RGB", {"quality": 90}), ("progressive", "RGB", {"progressive": True}),
             ("gray", "L", {}), ("cmyk", "CMYK", {})],
    "PNG": [("rgb", "RGB", {}), ("rgba", "RGBA", {}), ("palette", "P", {}), ("16-bit", "I;16", {})],
    "GIF": [("palette", "P", {}), ("animated", "P", {"save_all": True})],
    "WEBP": [("lossy", "RGB", {"quality": 80}), ("lossless", "RGB", {"lossless": True}), ("alpha", "RGBA", {})],
    "TIFF": [("raw", "RGB", {}), ("lzw", "RGB", {"compression": "tiff_lzw"}),
             ("deflate", "RGB", {"compression": "tiff_adobe_deflate"}), ("jpeg", "RGB", {"compression": "jpeg"}),
             ("packbits", "L", {"compression": "packbits"})],
    "BMP": [("rgb", "RGB", {}), ("palette", "P", {}), ("gray", "L", {})],
}
DAMAGES = ("flip", "truncate", "cut", "header")
SIDES = (24, 32, 48, 64, 96)
SETTINGS = {"size": 32, "iterations": 0}
"""A job's settings: the smallest run, should a damaged image be accepted and start before it is deleted."""
ROLES = {"content": "photo", "style": "painting"}
PROGRESS_EVERY = 1000
HOSTILE_EVERY = 50
HOSTILE = ("bomb", "burst", "slow", "settings")
BOMB_SIDE = 3072
BURST = 4
SLOW = 20
"""Connections of a 'slow' case; the server's --header-timeout is HEADER_TIMEOUT."""
HEADER_TIMEOUT = 2.0
MEMORY_BUDGET_MB = 2000
HOSTILE_SETTINGS = ("[" * 100_000 + "]" * 100_000, '{"seed": ' + "9" * 4301 + "}")


@dataclass(frozen=True)
class Case:
    """One upload: a damaged `image_format` image as the job's `role` ('content' or 'style')."""

    index: int
    image_format: str
    variant: str
    damage: str
    role: str
    data: bytes


@dataclass
class Outcome:
    case: Case
    status: int
    detail: str | None
    problems: list[str] = field(default_factory=list)


def sources(folders: Sequence[Path]) -> dict[str, list[tuple[str, bytes]]]:
    """Clean encodings of every image in `folders`, by format: (variant, bytes), at sides from `SIDES`."""
    images = sorted(path for folder in folders for path in folder.iterdir()
                    if path.suffix.lower() in (".jpg", ".jpeg", ".png"))
    encoded: dict[str, list[tuple[str, bytes]]] = {name: [] for name in FORMATS}
    for number, path in enumerate(images):
        picture = Image.open(path).convert("RGB")
        picture.thumbnail((SIDES[number % len(SIDES)],) * 2)
        for image_format, variants in FORMATS.items():
            for variant, mode, options in variants:
                encoded[image_format].append((variant, _encode(picture, image_format, mode, options)))
    return encoded


def _encode(picture: Image.Image, image_format: str, mode: str, options: dict) -> bytes:
    buffer = io.BytesIO()
    converted = picture.convert(mode) if mode != "I;16" else picture.convert("L").convert("I;16")
    if options.get("save_all"):  # two frames: the second one mirrored
        options = {**options, "append_images": [converted.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]}
    converted.save(buffer, image_format, **options)
    return buffer.getvalue()


def damage(data: bytes, kind: str, rng: random.Random) -> bytes:
    """`data` damaged: 'flip' XORs 1-16 bytes, 'truncate' keeps a prefix, 'cut' removes a slice from
    inside, 'header' sets 1-4 of the first 64 bytes to a large value."""
    damaged = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 16)):
            damaged[rng.randrange(len(damaged))] ^= rng.randint(1, 255)
    elif kind == "truncate":
        del damaged[rng.randint(1, len(damaged) - 1):]
    elif kind == "cut":
        start = rng.randint(1, len(damaged) - 2)
        del damaged[start:start + rng.randint(1, max(1, (len(damaged) - start) // 4))]
    elif kind == "header":
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(min(64, len(damaged)))] = rng.choice((0x7F, 0x80, 0xFE, 0xFF))
    else:
        raise ValueError(f"no damage {kind!r}: choose one of {', '.join(DAMAGES)}")
    return bytes(damaged)


def cases(count: int, seed: int, encoded: dict[str, list[tuple[str, bytes]]]) -> Iterator[Case]:
    """`count` uploads, the formats in turn, the rest drawn from `seed`."""
    rng = random.Random(seed)
    formats = list(FORMATS)
    for index in range(count):
        image_format = formats[index % len(formats)]
        variant, data = rng.choice(encoded[image_format])
        kind = rng.choice(DAMAGES)
        yield Case(index, image_format, variant, kind, rng.choice(tuple(ROLES)), damage(data, kind, rng))


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[tuple[httpx.Client, subprocess.Popen[bytes], Path]]:
    """`impasto serve` on a free port of 127.0.0.1 with its data dir and log in `folder`, and a client
    of it; stopped with SIGINT (as Ctrl-C) at the end."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = folder / "server.log"
    command = [sys.executable, "-m", "impasto", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--data-dir", str(folder / "data"), "--device", "cpu", "--memory-budget-mb", str(MEMORY_BUDGET_MB),
               "--rate-limit", "1000000000", "--max-queue", "1000", "--client-queue", "1000",
               "--header-timeout", str(HEADER_TIMEOUT)]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        deadline = time.monotonic() + 120
        while not _answers(client):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"impasto serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield client, process, log
    finally:
        client.close()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(client: httpx.Client) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return client.get("/api/options").status_code == 200
    return False


def send(client: httpx.Client, case: Case, clean: bytes, jobs: Path, check_left: bool = True) -> Outcome:
    """POST `case` (the other image `clean`), DELETE the job if one was made, and check the answer
    and (`check_left`) that `jobs` (the data dir's job folders) is empty afterwards."""
    files = {role: ("clean.jpg", clean, "image/jpeg") for role in ROLES}
    files[case.role] = (f"upload.{case.image_format.lower()}", case.data, "application/octet-stream")
    try:
        response = client.post("/api/jobs", files=files, data={"settings": json.dumps(SETTINGS)})
    except httpx.TransportError as error:  # the server closed the connection: no answer at all
        return Outcome(case, 0, None, [f"no answer ({error})"])
    outcome = Outcome(case, response.status_code, None)
    if response.status_code >= 500:
        outcome.problems.append(f"{response.status_code}: {response.text[:200]}")
    elif response.status_code == 201:
        deleted = client.delete(f"/api/jobs/{response.json()['id']}")
        if deleted.status_code != 204:
            outcome.problems.append(f"DELETE of the accepted job answered {deleted.status_code}")
    else:
        try:
            outcome.detail = response.json()["detail"]
        except (ValueError, KeyError, TypeError):
            outcome.problems.append(f"a {response.status_code} without a JSON detail: {response.text[:200]}")
        else:
            if not isinstance(outcome.detail, str) or "\n" in outcome.detail:
                outcome.problems.append(f"a detail that is not one line: {outcome.detail!r}")
    left = sorted(path.name for path in jobs.iterdir()) if check_left else []
    if left:
        outcome.problems.append(f"left in the data dir: {', '.join(left)}")
    return outcome


def bombs() -> dict[str, bytes]:
    """A BOMB_SIDE px square of one colour in each format: a few kB to 1 MB, 28 MB once decoded."""
    options = {"JPEG": ("RGB", {"quality": 50, "progressive": True}), "PNG": ("RGB", {}), "GIF": ("P", {}),
               "WEBP": ("RGB", {"lossless": True}), "BMP": ("1", {}),
               "TIFF": ("RGB", {"compression": "tiff_adobe_deflate"})}
    files = {}
    for image_format, (mode, save) in options.items():
        buffer = io.BytesIO()
        Image.new(mode, (BOMB_SIDE,) * 2, 1 if mode in ("P", "1") else (90, 120, 200)).save(buffer, image_format,
                                                                                           **save)
        files[image_format] = buffer.getvalue()
    return files


def hostile(client: httpx.Client, case: Case, clean: bytes, files: dict[str, bytes], jobs: Path, port: int,
            ) -> list[Outcome]:
    """The hostile case `case.damage` (one of HOSTILE), its format `case.image_format`: the outcome of each request."""
    if case.damage == "slow":
        return [_slow(case, port)]
    if case.damage == "settings":
        data = {"settings": HOSTILE_SETTINGS[case.index % len(HOSTILE_SETTINGS)]}
        return [_posted(client, case, {role: ("clean.jpg", clean, "image/jpeg") for role in ROLES}, data, jobs)]
    bomb = Case(case.index, case.image_format, "bomb", case.damage, "content", files[case.image_format])
    if case.damage == "bomb":
        return [send(client, bomb, clean, jobs)]
    with ThreadPoolExecutor(BURST) as pool:  # concurrent large decodes, each on its own connection
        return list(pool.map(lambda _: _burst_one(client.base_url, bomb, clean, jobs), range(BURST)))


def _burst_one(url: httpx.URL, case: Case, clean: bytes, jobs: Path) -> Outcome:
    with httpx.Client(base_url=url, timeout=120) as client:
        return send(client, case, clean, jobs, check_left=False)


def _posted(client: httpx.Client, case: Case, files: dict, data: dict, jobs: Path) -> Outcome:
    response = client.post("/api/jobs", files=files, data=data)
    outcome = Outcome(case, response.status_code, response.json().get("detail"))
    if response.status_code != 422:
        outcome.problems.append(f"hostile settings answered {response.status_code}: {response.text[:200]}")
    return outcome


def _slow(case: Case, port: int) -> Outcome:
    """SLOW connections that send half their headers and stop: each must be closed by the server
    (with a 408) within its header timeout and a second."""
    connections = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(SLOW)]
    for connection in connections:
        connection.sendall(b"GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    time.sleep(HEADER_TIMEOUT + 1)
    open_ = 0
    for connection in connections:
        connection.setblocking(False)
        try:
            while connection.recv(4096):
                pass
        except BlockingIOError:
            open_ += 1
        except ConnectionResetError:
            pass
        connection.close()
    outcome = Outcome(case, 408, None)
    if open_:
        outcome.problems.append(f"{open_} of {SLOW} slow connections still open after {HEADER_TIMEOUT + 1:g} s")
    return outcome


@dataclass
class Watcher:
    """Another client: GET /api/jobs every 0.2 s in a thread, its latencies kept, and the server's
    peak memory (VmHWM) read at the end."""

    url: str
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.wait(0.2):
                started = time.monotonic()
                try:
                    ok = client.get("/api/jobs").status_code == 200
                except httpx.TransportError:
                    ok = False
                self.latencies.append(time.monotonic() - started)
                self.failures += not ok


def peak_memory(pid: int) -> int:
    """A process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Report:
    outcomes: list[Outcome]
    seconds: float
    problems: list[str]
    """Everything wrong, one line each: answers, leftovers, the server's log and exit."""
    latencies: list[float] = field(default_factory=list)
    """Another client's, during it all."""
    peak_bytes: int = 0
    """The server process's peak resident set."""


def fuzz(count: int, seed: int, folders: Sequence[Path] = (EXAMPLES,), seconds: float = float("inf"),
         hostile_every: int = HOSTILE_EVERY) -> Report:
    """Send `count` requests (or as many as fit in `seconds`) to a fresh server and check it: damaged
    uploads, and every `hostile_every`th (0: none) a hostile case."""
    encoded = sources(folders)
    clean = encoded["JPEG"][0][1]
    files = bombs() if hostile_every else {}
    with tempfile.TemporaryDirectory(prefix="fuzz-uploads-") as temporary:
        folder = Path(temporary)
        started = time.monotonic()
        outcomes: list[Outcome] = []
        with serve(folder) as (client, process, log):
            watcher = Watcher(str(client.base_url))
            watching = threading.Thread(target=watcher.run, daemon=True)
            watching.start()
            port = client.base_url.port or 80
            formats = list(files)
            for case in cases(count, seed, encoded):
                if hostile_every and case.index % hostile_every == hostile_every - 1:
                    turn = case.index // hostile_every
                    kind = HOSTILE[turn % len(HOSTILE)]
                    special = Case(case.index, formats[turn // len(HOSTILE) % len(formats)], "hostile", kind,
                                   "content", b"")
                    outcomes += hostile(client, special, clean, files, folder / "data" / "jobs", port)
                else:
                    outcomes.append(send(client, case, clean, folder / "data" / "jobs"))
                if len(outcomes) % PROGRESS_EVERY == 0:
                    print(f"{len(outcomes)} of {count} requests in {time.monotonic() - started:.0f} s", file=sys.stderr)
                if time.monotonic() - started > seconds or process.poll() is not None:
                    break
            watcher.stop.set()
            watching.join()
            peak = peak_memory(process.pid)
            listed = client.get("/api/jobs").json()["jobs"]
        elapsed = time.monotonic() - started
        problems = [f"#{o.case.index} {o.case.image_format} {o.case.variant} {o.case.damage} as the "
                    f"{ROLES[o.case.role]}: {problem}" for o in outcomes for problem in o.problems]
        if listed:
            problems.append(f"{len(listed)} jobs still listed at the end")
        text = log.read_text(errors="replace")
        problems += [f"server log: {line}" for line in text.splitlines() if "Traceback" in line or "ERROR" in line]
        if process.returncode != 0:
            problems.append(f"the server exited with {process.returncode} on SIGINT")
        left = sorted(str(path.relative_to(folder / "data")) for path in (folder / "data").rglob("*"))
        if set(left) - {"jobs", "jobs.sqlite3", "jobs.sqlite3-wal", "jobs.sqlite3-shm", "lock"}:
            problems.append(f"left in the data dir after the end: {', '.join(left)}")
        if watcher.failures:
            problems.append(f"another client got {watcher.failures} failed answers")
        if peak > MEMORY_BUDGET_MB * 2**20:
            problems.append(f"the server's peak memory {peak / 2**20:.0f} MiB is over its budget of {MEMORY_BUDGET_MB}")
    return Report(outcomes, elapsed, problems, watcher.latencies, peak)


def table(report: Report) -> str:
    """The answers' statuses by format and by damage, as Markdown."""
    statuses = sorted({outcome.status for outcome in report.outcomes})
    lines = []
    for title, key in (("format", lambda c: c.image_format), ("damage", lambda c: c.damage),
                       ("sent as", lambda c: ROLES[c.role])):
        counts: dict[str, Counter[int]] = {}
        for outcome in report.outcomes:
            counts.setdefault(key(outcome.case), Counter())[outcome.status] += 1
        lines += [f"| {title} | uploads | {' | '.join(str(status) for status in statuses)} |",
                  "|---" * (len(statuses) + 2) + "|"]
        lines += [f"| {name} | {sum(counter.values())} | {' | '.join(str(counter[s]) for s in statuses)} |"
                  for name, counter in counts.items()]
        lines.append("")
    total = Counter(outcome.status for outcome in report.outcomes)
    lines.append(f"{len(report.outcomes)} uploads in {report.seconds:.0f} s "
                 f"({len(report.outcomes) / max(report.seconds, 1e-9):.1f} a second): "
                 + ", ".join(f"{total[status]} x {status}" for status in statuses))
    details = Counter(_kind(outcome.detail) for outcome in report.outcomes if outcome.detail)
    lines.append("most common refusals: " + "; ".join(f"{count} x {text!r}" for text, count in details.most_common(6)))
    hostile = [outcome for outcome in report.outcomes if outcome.case.variant in ("hostile", "bomb")]
    if hostile:
        answers = Counter((outcome.case.damage, outcome.status) for outcome in hostile)
        lines.append("hostile cases: " + ", ".join(f"{count} x {kind} -> {status}"
                                                   for (kind, status), count in sorted(answers.items())))
    if report.latencies:
        ordered = sorted(report.latencies)
        median, p95 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.95)]
        lines.append(f"another client meanwhile: {len(ordered)} requests, median {median * 1000:.0f} ms, 95th "
                     f"percentile {p95 * 1000:.0f} ms, slowest {ordered[-1] * 1000:.0f} ms")
    lines.append(f"the server's peak memory: {report.peak_bytes / 2**20:.0f} MiB (its budget: {MEMORY_BUDGET_MB} MiB)")
    return "\n".join(lines)


def _kind(detail: str) -> str:
    """A refusal's message without what changes from file to file: Pillow's words, the way out, numbers."""
    return re.sub(r"\d[\d,]*", "N", detail.split(" (")[0].split(":")[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=600, help="uploads to send")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=Path, action="append", default=[], metavar="DIR",
                        help="more folders of real images (JPEG, PNG) besides the bundled examples")
    parser.add_argument("--seconds", type=float, default=3600.0, help="stop sending after this long")
    args = parser.parse_args()
    report = fuzz(args.count, args.seed, [EXAMPLES, *args.images], args.seconds)
    print(f"{args.count} requests (damaged uploads, every {HOSTILE_EVERY}th a hostile case), seed {args.seed}, on "
          f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f})\n")
    print(table(report))
    print("\n" + ("\n".join(report.problems) if report.problems else "no problems: no 5xx, no traceback in the "
                  "server's log, nothing left in its data dir, its memory under its budget, every slow connection "
                  "closed, another client always answered"))
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
