"""Damaged images POSTed to a real `impasto serve` on loopback: every answer a 4xx or a 201, never a
5xx; no traceback in the server's log; nothing left in its data dir by a refused job.

Real images (the bundled examples and any `--images` folders), downscaled to 24-96 px, are encoded
in JPEG, PNG, GIF, WebP, TIFF and BMP (a few variants each: progressive, palette, 16-bit, alpha,
lossless, compressions, ...) and damaged in one of four ways: bytes flipped, the end truncated, a
slice cut out, or header bytes set large. Each is sent as the photo or the painting of a job (the
other one clean) with tiny settings; a job that is accepted is deleted right away, so the server
spends next to no CPU running it. The server runs with its own temporary --data-dir on a free port
of 127.0.0.1 only, with one torch thread.

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
import time
from collections import Counter
from collections.abc import Iterator, Sequence
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
               "--data-dir", str(folder / "data"), "--device", "cpu", "--memory-budget-mb", "2000",
               "--rate-limit", "1000000000", "--max-queue", "1000"]
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


def send(client: httpx.Client, case: Case, clean: bytes, jobs: Path) -> Outcome:
    """POST `case` (the other image `clean`), DELETE the job if one was made, and check the answer
    and that `jobs` (the data dir's job folders) is empty afterwards."""
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
    left = sorted(path.name for path in jobs.iterdir())
    if left:
        outcome.problems.append(f"left in the data dir: {', '.join(left)}")
    return outcome


@dataclass
class Report:
    outcomes: list[Outcome]
    seconds: float
    problems: list[str]
    """Everything wrong, one line each: answers, leftovers, the server's log and exit."""


def fuzz(count: int, seed: int, folders: Sequence[Path] = (EXAMPLES,), seconds: float = float("inf")) -> Report:
    """Send `count` damaged uploads (or as many as fit in `seconds`) to a fresh server and check it."""
    encoded = sources(folders)
    clean = encoded["JPEG"][0][1]
    with tempfile.TemporaryDirectory(prefix="fuzz-uploads-") as temporary:
        folder = Path(temporary)
        started = time.monotonic()
        outcomes = []
        with serve(folder) as (client, process, log):
            for case in cases(count, seed, encoded):
                outcomes.append(send(client, case, clean, folder / "data" / "jobs"))
                if len(outcomes) % PROGRESS_EVERY == 0:
                    print(f"{len(outcomes)} of {count} uploads in {time.monotonic() - started:.0f} s", file=sys.stderr)
                if time.monotonic() - started > seconds or process.poll() is not None:
                    break
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
        if set(left) - {"jobs", "jobs.sqlite3", "jobs.sqlite3-wal", "jobs.sqlite3-shm"}:
            problems.append(f"left in the data dir after the end: {', '.join(left)}")
    return Report(outcomes, elapsed, problems)


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
    print(f"{args.count} damaged uploads, seed {args.seed}, on {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.1f})\n")
    print(table(report))
    print("\n" + ("\n".join(report.problems) if report.problems else "no problems: no 5xx, no traceback in the "
                  "server's log, nothing left in its data dir"))
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
