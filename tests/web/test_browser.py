"""The page in a real headless browser (Debian's chromium, driven by Playwright) against a real
`impasto serve` that requires a token (as beyond loopback): open the link with the token, upload two
images, start, watch the preview change, download the result; paint a clip made here, watch its
frame counter, play the result in the page and download the MP4; compare three strengths.

Screenshots of each step go to $IMPASTO_SCREENSHOTS (default: the test's temporary folder); the
README's were made with IMPASTO_SIZE=384 (default 128, for speed).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from impasto.images import EXAMPLES

from .conftest import Server, clip_bytes, frames_of

CHROMIUM = Path(os.environ.get("IMPASTO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
"""`make test` sets IMPASTO_CHROMIUM to the Chromium it found or installed (scripts/chromium.sh)."""
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SIZE = int(os.environ.get("IMPASTO_SIZE", "128"))
TOKEN = "browser-test-token"

PIXELS = """() => {
  const image = document.querySelector('#after');
  if (!image.complete || !image.naturalWidth) return null;
  const canvas = document.createElement('canvas');
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 1) sum = (sum * 31 + data[i]) % 1000000007;
  return `${canvas.width}x${canvas.height}:${sum}`;
}"""
"""A checksum of the pixels the stage shows, to see the preview really change."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        reason = f"no Chromium at {CHROMIUM}: install it (apt-get install chromium) or set IMPASTO_CHROMIUM to its path"
        if os.environ.get("CI"):  # CI installs it: a missing browser there is a failure, not a skip
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`impasto serve` with a token: every request of the page passes the checks of a networked server."""
    server = Server(tmp_path / "data", "--token", TOKEN)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("IMPASTO_SCREENSHOTS", tmp_path / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def small_copy(name: str, folder: Path) -> Path:
    image = Image.open(EXAMPLES / name).convert("RGB")
    image.thumbnail((max(160, SIZE), max(160, SIZE)))
    path = folder / name
    image.save(path)
    return path


def test_the_page_runs_under_its_own_content_security_policy(server, browser) -> None:
    """The other tests let Playwright's waits evaluate scripts in the page (`bypass_csp`), which the
    app's policy forbids; the page itself must run with the policy enforced."""
    client = server.start()
    presets = client.get("/api/options").json()["presets"]
    page = browser.new_page(viewport=DESKTOP)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.goto(f"{server.url}/?token={TOKEN}")
    expect(page.locator("#presets button")).to_have_count(len(presets))
    expect(page.locator("#start")).to_be_disabled()
    page.close()
    assert not problems


def test_paint_a_photo_in_the_browser(server, browser, shots, tmp_path) -> None:
    client = server.start()
    presets = client.get("/api/options").json()["presets"]
    quickest = min(presets, key=lambda name: presets[name]["iterations"])
    page = browser.new_page(viewport=DESKTOP, accept_downloads=True, bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    assert page.goto(server.url).status == 401, "no token, no page"
    page.goto(f"{server.url}/?token={TOKEN}")
    expect(page).to_have_url(f"{server.url}/")  # the token has become a cookie, out of the address bar
    expect(page.locator("#presets button")).to_have_count(len(presets))
    expect(page.locator("#start")).to_be_disabled()
    page.screenshot(path=shots / "desktop-1-start.png")

    page.set_input_files("#file-content", small_copy("tubingen.jpg", tmp_path))
    page.set_input_files("#file-style", small_copy("starry_night.jpg", tmp_path))
    expect(page.locator(".drop[data-role=content] .drop-thumb")).to_be_visible()
    expect(page.locator(".drop[data-role=style] .drop-name")).to_have_text("starry_night.jpg")
    page.click(f"#presets button[data-preset={quickest}]")
    page.select_option("#size", str(SIZE))
    expect(page.locator("#strength-value")).to_have_text("Balanced")
    page.locator("#strength").fill("0.7")
    expect(page.locator("#strength-value")).to_have_text("0.70")
    expect(page.locator("#start")).to_be_enabled()
    page.screenshot(path=shots / "desktop-2-ready.png")

    page.click("#start")
    page.wait_for_function(f"({PIXELS})() !== null && document.querySelector('#after').src.includes('preview')")
    first = page.evaluate(PIXELS)
    expect(page.locator("#badge")).to_have_text("running")
    page.wait_for_function(f"(first) => ({PIXELS})() !== first", arg=first, timeout=60_000)
    total = presets[quickest]["iterations"]
    page.wait_for_function(f"parseInt(document.querySelector('#stat-step').textContent) >= {total // 3}",
                           timeout=120_000 * max(1, (SIZE / 128) ** 2))
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=shots / "desktop-3-running.png")

    expect(page.locator("#badge")).to_have_text("done", timeout=120_000 * max(1, (SIZE / 128) ** 2))
    expect(page.locator("#stat-step")).to_have_text(f"{total} / {total}")
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(".card .badge")).to_have_text("done")
    expect(page.locator(".card")).to_contain_text("strength 0.70")
    page.locator("#compare-slider").fill("35")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=shots / "desktop-4-done.png")

    saved = downloaded(page, "#download", tmp_path)
    assert saved.name == "tubingen_starry_night.png"
    with Image.open(saved) as result:
        assert result.format == "PNG" and result.size == (SIZE, SIZE * 3 // 4)
        assert "impasto" in result.info
    drop(page, "the_scream.jpg", ".drop[data-role=style]")
    expect(page.locator(".drop[data-role=style] .drop-name")).to_have_text("the_scream.jpg")
    assert errors == []

    phone(browser, server.url, shots)


def downloaded(page: Page, button: str, folder: Path) -> Path:
    """The file that clicking `button` downloads, saved in `folder` under the name the server gave it."""
    with page.expect_download() as download:
        page.click(button)
    saved = folder / download.value.suggested_filename
    download.value.save_as(saved)
    return saved


def drop(page: Page, example: str, target: str) -> None:
    """Drag a file onto `target` as a desktop browser does: a drop event carrying the file."""
    transfer = page.evaluate_handle(
        """async (name) => {
          const blob = await (await fetch(`/api/examples/${name}`)).blob();
          const transfer = new DataTransfer();
          transfer.items.add(new File([blob], name, { type: blob.type }));
          return transfer;
        }""",
        example,
    )
    page.dispatch_event(target, "drop", {"dataTransfer": transfer})


def phone(browser: Browser, url: str, shots: Path) -> None:
    """The same page on a phone: the finished painting from the gallery, and an example picked."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  bypass_csp=True)
    page: Page = context.new_page()
    page.goto(f"{url}/?token={TOKEN}")
    expect(page.locator(".card")).to_have_count(1)
    page.screenshot(path=shots / "phone-1-start.png")
    page.click(".card .card-image")
    expect(page.locator("#badge")).to_have_text("done")
    page.locator("#stage").scroll_into_view_if_needed()
    page.screenshot(path=shots / "phone-2-result.png")
    page.click(".example[data-name='the_scream.jpg']")
    expect(page.locator(".drop[data-role=style] .drop-name")).to_have_text("the_scream.jpg")
    page.screenshot(path=shots / "phone-3-full.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing sticks out sideways on a phone"
    context.close()


STEPS = int(os.environ.get("IMPASTO_STEPS", "10"))
"""The server's --max-iterations in the tests of clips and comparisons, for speed: the page caps its
presets there. 0: no cap, so the page shows each preset's own steps (the docs' screenshots are made
so: IMPASTO_SIZE=192 IMPASTO_STEPS=0 IMPASTO_FRAMES=12)."""
CLIP_SIDE = int(os.environ.get("IMPASTO_SIZE", "48"))
COMPARE_SIDE = max(side for side in (64, 128, 256, 384, 512) if side <= max(64, CLIP_SIDE))
"""A size of the page's menu."""
FRAMES = int(os.environ.get("IMPASTO_FRAMES", "5"))
RATE = 8
PLAYABLE = "[...document.querySelectorAll('#clips video')].every((video) => video.readyState === 4)"
"""Both videos of a finished clip have loaded (their controls show no spinner)."""


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[Server]:
    """`impasto serve` with a token and at most STEPS iterations a run (0: as many as the presets have)."""
    server = Server(tmp_path / "data", "--token", TOKEN, *(("--max-iterations", str(STEPS)) if STEPS else ()))
    try:
        yield server
    finally:
        server.stop()


def test_paint_a_clip_in_the_browser(quick, browser, shots, tmp_path) -> None:
    quick.start()
    clip = tmp_path / "pan.mp4"
    clip.write_bytes(clip_bytes(tmp_path, frames=FRAMES, size=(CLIP_SIDE, CLIP_SIDE * 3 // 4), rate=RATE))
    page = browser.new_page(viewport=DESKTOP, accept_downloads=True, bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{quick.url}/?token={TOKEN}")
    expect(page.locator("#steadiness button")).to_have_count(3)  # the page has its options
    page.set_input_files("#file-content", clip)
    expect(page.locator(".drop[data-role=content] .drop-kind")).to_have_text("Clip")
    expect(page.locator(".drop[data-role=content] .drop-video")).to_be_visible()
    expect(page.locator("#video-settings")).to_be_visible()
    expect(page.locator("#mode-field")).to_be_hidden()
    page.set_input_files("#file-style", small_copy("starry_night.jpg", tmp_path))
    page.click("#presets button[data-preset=fast]")
    fast = page.evaluate("fetch('/api/options').then((answer) => answer.json())")["presets"]["fast"]["iterations"]
    expect(page.locator("#presets button[data-preset=fast] small")).to_have_text(
        f"{min(fast, STEPS) if STEPS else fast} steps")
    expect(page.locator("#size")).to_have_value(str(CLIP_SIDE))  # the clip's own size
    expect(page.locator("#start-label")).to_have_text("Paint the clip")
    # The two modes, the server's default chosen: keyframes hides the passes and is sent when chosen.
    expect(page.locator("#video-mode button")).to_have_count(2)
    expect(page.locator("#video-mode button[aria-checked=true]")).to_contain_text("Every frame optimised")
    page.click("#video-mode button[data-value=keyframes]")
    expect(page.locator("#passes-field")).to_be_hidden()
    expect(page.locator("#video-note")).to_contain_text("network")
    assert page.evaluate("settings().mode") == "keyframes"
    page.click("#video-mode button[data-value=frames]")  # this clip runs every frame optimised (the docs' shots)
    expect(page.locator("#passes-field")).to_be_visible()
    assert page.evaluate("settings().mode") is None
    page.click("#start")

    expect(page.locator("#stat-step-label")).to_have_text("Frame")
    expect(page.locator("#stat-loss-label")).to_have_text("Speed")
    counted = set()  # the frame counter moves: "1 / 5", "2 / 5", ...
    while len(counted) < 2 and page.locator("#badge").text_content() != "done":
        counted.add(page.locator("#stat-step").text_content())
        page.wait_for_timeout(40)
    assert len(counted) >= 2 and all(text.endswith(f" / {FRAMES}") for text in counted if text != "–"), counted
    page.wait_for_function("document.querySelector('#after').src.includes('/preview')")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=shots / "desktop-video-running.png")
    phone_page = phone_context(browser, quick.url)
    if phone_page.locator("#badge").text_content() == "running":
        phone_page.locator("#stage").scroll_into_view_if_needed()
        phone_page.screenshot(path=shots / "phone-video-running.png")

    expect(page.locator("#badge")).to_have_text("done", timeout=max(120_000, 30_000 * FRAMES))
    expect(page.locator("#clips")).to_be_visible()
    expect(page.locator("#stat-step")).to_have_text(f"{FRAMES} / {FRAMES}")
    page.wait_for_function("document.querySelector('#clip-result').duration > 0")
    duration = page.evaluate("document.querySelector('#clip-result').duration")
    assert abs(duration - FRAMES / RATE) < 0.2, duration
    page.eval_on_selector("#clip-result", "video => { video.muted = true; return video.play(); }")
    page.wait_for_function("document.querySelector('#clip-result').ended", timeout=10_000)
    page.wait_for_function(PLAYABLE)
    expect(page.locator(".card")).to_contain_text(f"clip · {FRAMES} frames")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(1500)  # the controls' loading spinner fades, as on the phone below
    page.screenshot(path=shots / "desktop-video-done.png")

    saved = downloaded(page, "#download", tmp_path)
    assert saved.name == "pan_starry_night.mp4"
    assert frames_of(saved.read_bytes()) == (FRAMES, RATE, True), "every frame, the input's rate and its audio"

    phone_page.reload()
    expect(phone_page.locator("#clips")).to_be_visible()
    phone_page.wait_for_function(PLAYABLE)
    phone_page.locator("#stage").scroll_into_view_if_needed()
    phone_page.wait_for_timeout(1500)  # the controls' loading spinner fades
    phone_page.screenshot(path=shots / "phone-video-done.png")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # A clip in mode keyframes while its network trains, as its events give it: the training's step
    # and time left, not a frame's iterations.
    job = page.evaluate("state.job")
    training = {**job, "id": "training", "status": "running", "step": 1, "frame": 2, "stage": "training",
                "frame_step": None, "frame_total": None, "train_step": 40, "train_steps": 150, "train_eta": 42,
                "eta": 75, "fps": None}
    page.evaluate("(job) => { state.job = job; render(job); }", training)
    expect(page.locator("#stat-sub")).to_have_text("network training: step 40 of 150")
    expect(page.locator("#stat-eta-sub")).to_have_text("training: 0:42")
    expect(page.locator("#stat-eta")).to_have_text("1:15")
    phone_page.evaluate("(job) => { state.job = job; render(job); }", training)
    expect(phone_page.locator("#stat-sub")).to_have_text("network training: step 40 of 150")
    phone_page.locator("#status").scroll_into_view_if_needed()
    phone_page.screenshot(path=shots / "phone-video-training.png")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.evaluate("(job) => render(job)", {**training, "stage": "frame", "frame": 3, "step": 2, "frame_step": 2,
                                             "frame_total": 4, "fps": 0.25, "eta": 9})
    expect(page.locator("#stat-sub")).to_have_text("step 2 of 4")
    expect(page.locator("#stat-eta-sub")).to_be_hidden()
    expect(page.locator("#stat-loss")).to_have_text("0.25 frames/s")
    assert errors == []


def test_compare_strengths_in_the_browser(quick, browser, shots, tmp_path) -> None:
    client = quick.start()
    strengths = client.get("/api/options").json()["compare_strengths"]
    page = browser.new_page(viewport=DESKTOP, accept_downloads=True, bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{quick.url}/?token={TOKEN}")
    expect(page.locator("#modes button")).to_have_count(2)
    expect(page.locator("#compare-note")).to_have_text(" · ".join(f"{value:.2f}" for value in strengths))
    page.set_input_files("#file-content", small_copy("tubingen.jpg", tmp_path))
    page.set_input_files("#file-style", small_copy("the_scream.jpg", tmp_path))
    page.click("#modes button[data-mode=compare]")
    expect(page.locator("#strength-field")).to_be_hidden()
    expect(page.locator("#start-label")).to_have_text(f"Paint {len(strengths)} strengths")
    page.click("#presets button[data-preset=fast]")
    page.select_option("#size", str(COMPARE_SIDE))
    page.click("#start")

    expect(page.locator(".variant")).to_have_count(len(strengths))
    expect(page.locator(".variant-strength")).to_have_text([f"Strength {value:.2f}" for value in strengths])
    expect(page.locator("#badge")).to_have_text("done", timeout=120_000)
    page.wait_for_function("[...document.querySelectorAll('.variant img')].every((image) => image.naturalWidth > 0)")
    sums = page.evaluate("""() => [...document.querySelectorAll('.variant img')].map((image) => {
      const canvas = document.createElement('canvas');
      [canvas.width, canvas.height] = [image.naturalWidth, image.naturalHeight];
      const context = canvas.getContext('2d');
      context.drawImage(image, 0, 0);
      return context.getImageData(0, 0, canvas.width, canvas.height).data.reduce((a, b) => a + b, 0);
    })""")
    assert len(set(sums)) == len(strengths), "three different images"
    page.locator(".variant-keep").nth(1).click()
    expect(page.locator(".variant.kept .variant-strength")).to_have_text(f"Strength {strengths[1]:.2f}")
    expect(page.locator("#download")).to_be_visible()
    expect(page.locator(".card")).to_contain_text("strengths " + " · ".join(f"{value:.2f}" for value in strengths))
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=shots / "desktop-compare.png")
    assert len(zipfile.ZipFile(downloaded(page, "#download-all", tmp_path)).namelist()) == len(strengths)

    phone_page = phone_context(browser, quick.url)
    expect(phone_page.locator(".variant img")).to_have_count(len(strengths))
    phone_page.wait_for_function("[...document.querySelectorAll('.variant img')].every((image) => image.naturalWidth)")
    phone_page.locator("#stage").scroll_into_view_if_needed()
    phone_page.screenshot(path=shots / "phone-compare.png")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert errors == []


def phone_context(browser: Browser, url: str) -> Page:
    """The page on a phone, showing the latest job."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  bypass_csp=True)
    page = context.new_page()
    page.goto(f"{url}/?token={TOKEN}")
    expect(page.locator("#status")).to_be_visible()
    return page
