"""Browser test of the web demo: Debian's chromium, driven by Selenium through chromium-driver.

Loads the page, uploads a photo, clicks "Upscale", waits for the before/after slider and saves a screenshot
(to $RESTORATION_DEMO_SCREENSHOT when set — ``make test-browser`` points it at docs/demo.png — else to a temp
file, so a plain test run leaves the tree untouched). Skipped (with the reason printed) when chromium, chromedriver or
selenium is missing: ``make test-browser`` installs them. The browser never downloads anything (no network flags,
fresh profile).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from demo_server import REPO, start_demo

SCREENSHOT = Path(os.environ.get("RESTORATION_DEMO_SCREENSHOT") or Path(tempfile.gettempdir()) / "restoration-demo.png")
CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    "--window-size=1400,1150", "--hide-scrollbars",
)


def _browser_or_skip() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (Python package)")
    if missing:
        reason = f"browser test skipped: {', '.join(missing)} not installed (run `make test-browser`)"
        print(reason)
        pytest.skip(reason)
    return chromium, driver


@pytest.fixture
def browser(tmp_path):
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in (*CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver_path), options=opts)
    yield drv
    drv.quit()


def _models_for_screenshot(tiny_zoo: Path) -> Path:
    """The project's own model folder when it has a default model (a real result in the screenshot), else the tiny
    one."""
    from restoration.inference import list_models

    default_dir = REPO / "pretrained"
    if any(m.default and m.path.is_file() for m in list_models(default_dir)):
        return default_dir
    return tiny_zoo


def test_upload_run_slider_screenshot(browser, tiny_zoo, photos, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    name = "monarch" if "monarch" in photos else next(iter(photos))
    img = photos[name]
    h, w = img.shape[:2]
    crop = np.ascontiguousarray(img[(h - 256) // 2:(h + 256) // 2, (w - 384) // 2:(w + 384) // 2])
    photo = tmp_path / f"{name}.png"
    assert cv2.imwrite(str(photo), crop[:, :, ::-1])

    from restoration.inference import list_models

    models = _models_for_screenshot(tiny_zoo)
    scale = next(m.scale for m in list_models(models) if m.default)
    ow, oh = 384 * scale, 256 * scale
    server = start_demo(models, tmp_path)
    try:
        t0 = time.perf_counter()
        browser.get(server.url)
        wait = WebDriverWait(browser, 120)
        upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#upscale-input input[type=file]")))
        assert "restoration" in browser.title
        upload.send_keys(str(photo))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#upscale-input img")))
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#upscale-run"))).click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#upscale-slider img")) >= 2)
        wait.until(lambda d: "→" in d.find_element(By.CSS_SELECTOR, "#upscale-stats").text)
        stats = browser.find_element(By.CSS_SELECTOR, "#upscale-stats").text
        download = browser.find_element(By.CSS_SELECTOR, "#upscale-download").text
        elapsed = time.perf_counter() - t0
        # the slider shows the two PNGs the server wrote, each at the output size
        sizes = browser.execute_script(
            "return Array.from(document.querySelectorAll('#upscale-slider img'))"
            ".map(i => [i.naturalWidth, i.naturalHeight, i.src]);")
        time.sleep(0.5)  # let the slider finish its layout before the picture is taken
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))
        # second tab: degrade the same photo with a random task and restore it
        tab = [t for t in browser.find_elements(By.CSS_SELECTOR, "[role=tab]") if "Degradation lab" in t.text]
        assert tab, "no 'Degradation lab' tab"
        tab[0].click()
        lab_upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#lab-input input[type=file]")))
        lab_upload.send_keys(str(photo))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#lab-input img")))
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#lab-run"))).click()
        wait.until(lambda d: "PSNR" in d.find_element(By.CSS_SELECTOR, "#lab-stats").text)
        lab_stats = browser.find_element(By.CSS_SELECTOR, "#lab-stats").text
        lab_sizes = browser.execute_script(
            "return ['#lab-lq', '#lab-restored', '#lab-gt'].map(s => { const i = document.querySelector(s + ' img');"
            " return i ? [i.naturalWidth, i.naturalHeight] : null; });")
    finally:
        server.stop()
    assert f"384×256 → {ow}×{oh}" in stats, stats
    assert f"{name}_" in download and ".png" in download, download
    assert len(sizes) >= 2 and all(s[0] == ow and s[1] == oh for s in sizes[:2]), sizes
    assert all(".png" in s[2] for s in sizes[:2]), sizes  # PNG, not webp
    lq = 256 // scale
    assert f"GT 256×256 → LQ {lq}×{lq}" in lab_stats and "dB" in lab_stats, lab_stats
    assert lab_sizes == [[lq, lq], [256, 256], [256, 256]], lab_sizes
    shot = cv2.imread(str(SCREENSHOT))
    assert shot is not None and shot.shape[1] >= 1200 and shot.std() > 20  # a real picture, not a blank page
    print(f"browser: upload → slider in {elapsed:.1f} s with models from {models}; screenshot {SCREENSHOT} "
          f"({shot.shape[1]}x{shot.shape[0]}); {os.path.getsize(SCREENSHOT):,} bytes")
