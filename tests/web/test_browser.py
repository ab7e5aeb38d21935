"""The page in a real headless browser (Debian's chromium, driven by Playwright) against a real
`impasto serve` that requires a token (as beyond loopback): open the link with the token, upload two
images, start, watch the preview change, download the result.

Screenshots of each step go to $IMPASTO_SCREENSHOTS (default: the test's temporary folder); the
README's were made with IMPASTO_SIZE=384 (default 128, for speed).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from impasto.images import EXAMPLES

from .conftest import Server

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


def test_paint_a_photo_in_the_browser(server, browser, shots, tmp_path) -> None:
    client = server.start()
    presets = client.get("/api/options").json()["presets"]
    quickest = min(presets, key=lambda name: presets[name]["iterations"])
    page = browser.new_page(viewport=DESKTOP, accept_downloads=True)
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
    page.screenshot(path=shots / "desktop-3-running.png")

    expect(page.locator("#badge")).to_have_text("done", timeout=120_000 * max(1, (SIZE / 128) ** 2))
    expect(page.locator("#stat-step")).to_have_text(f"{total} / {total}")
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(".card .badge")).to_have_text("done")
    expect(page.locator(".card")).to_contain_text("strength 0.70")
    page.locator("#compare-slider").fill("35")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=shots / "desktop-4-done.png")

    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "tubingen_starry_night.png"
    with Image.open(saved) as result:
        assert result.format == "PNG" and result.size == (SIZE, SIZE * 3 // 4)
        assert "impasto" in result.info
    drop(page, "the_scream.jpg", ".drop[data-role=style]")
    expect(page.locator(".drop[data-role=style] .drop-name")).to_have_text("the_scream.jpg")
    assert errors == []

    phone(browser, server.url, shots)


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
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
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
