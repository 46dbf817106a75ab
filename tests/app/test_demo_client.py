"""Acceptance test of the web demo: a real server process driven by ``gradio_client``.

One server (concurrency 4, a 20,000-pixel upload limit so "oversized" stays small) serves every test of this
module; the last test shuts it down and checks it exits cleanly.
"""
from __future__ import annotations

import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from demo_server import start_demo  # tests/app/demo_server.py (pytest puts this folder on sys.path)

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

MAX_PIXELS = 20_000


def _write(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def _read(path: str) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img[:, :, ::-1] if img.ndim == 3 else img


def _is_png(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(tiny_zoo, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo-server")
    srv = start_demo(tiny_zoo, tmp, "--concurrency", "4", "--max-pixels", str(MAX_PIXELS))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return Client(server.url, verbose=False, download_files=str(tmp_path_factory.mktemp("client-downloads")))


@pytest.fixture(scope="module")
def reference(tiny_zoo):
    """The same model run in-process: what the server must answer."""
    from restoration.inference import Upscaler

    return Upscaler(str(tiny_zoo / "tiny.safetensors"), device="cpu")


@pytest.fixture(scope="module")
def crops(photos):
    """Twenty distinct 24x32 crops of real photos."""
    imgs = list(photos.values())
    out = []
    for k in range(20):
        img = imgs[k % len(imgs)]
        y, x = 37 * k % (img.shape[0] - 24), 53 * k % (img.shape[1] - 32)
        out.append(np.ascontiguousarray(img[y:y + 24, x:x + 32]))
    return out


def test_api_lists_both_endpoints(client, server):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/upscale", "/degradation_lab"} <= set(api)
    assert "restoration demo ready on" in server.ready_line


def test_upscale_returns_slider_png_and_stats(client, reference, crops, tmp_path):
    src = _write(tmp_path / "crop.png", crops[0])
    (before, after), png, stats = client.predict(handle_file(str(src)), "tiny", 4, 0, "cpu", api_name="/upscale")
    expected = reference.upscale(crops[0])
    assert expected.shape == (96, 128, 3)
    for path in (before, after, png):
        assert _is_png(path), f"{path} is not a PNG"
    result = _read(png)
    assert result.shape == expected.shape and result.dtype == np.uint8
    assert np.abs(result.astype(int) - expected).max() <= 1
    assert _read(after).shape == expected.shape
    assert np.abs(_read(after).astype(int) - expected).max() <= 1
    assert _read(before).shape == expected.shape  # the input, resized to the output size for the slider
    assert Path(png).name == "crop_tiny_x4.png"
    assert "32×24 → 128×96" in stats and " s**" in stats


def test_upscale_outscale_and_tiles(client, reference, photos, tmp_path):
    img = np.ascontiguousarray(next(iter(photos.values()))[:60, :70])
    src = _write(tmp_path / "tile.png", img)
    _, png, stats = client.predict(handle_file(str(src)), "tiny", 2, 32, "cpu", api_name="/upscale")
    result = _read(png)
    assert result.shape == (120, 140, 3)
    whole = reference.upscale(img, outscale=2)
    assert np.abs(result.astype(int) - whole).max() <= 2  # tiles of 32 px with 16 px padding = whole image
    assert "tiles of 32 px" in stats


def test_tiled_request_reports_progress(client, photos, tmp_path):
    from restoration.inference.tiling import tiles_for

    img = np.ascontiguousarray(next(iter(photos.values()))[:128, :128])
    src = _write(tmp_path / "progress.png", img)
    job = client.submit(handle_file(str(src)), "tiny", 4, 16, "cpu", api_name="/upscale")  # 64 tiles
    seen = []
    while not job.done():
        status = job.status()
        if status.progress_data:
            seen.extend(status.progress_data)
        time.sleep(0.01)
    _, png, stats = job.result(timeout=60)
    assert _read(png).shape == (512, 512, 3) and "tiles of 16 px" in stats
    total = tiles_for(128, 128, 16)
    assert seen, "no progress update reached the client"
    assert all(p.unit == "tiles" and p.length == total and 0 <= p.index <= total for p in seen), seen[:3]
    assert seen[0].desc == "upscaling"


def test_degradation_lab_random_task_is_reproducible(client, reference, photos, tmp_path):
    import torch

    from restoration.degradations import DegradationSpace, degrade

    img = np.ascontiguousarray(next(iter(photos.values()))[100:228, 200:328])  # 128 x 128 = 16,384 px
    src = _write(tmp_path / "gt.png", img)
    lq, restored, gt, psnr_value, stats = client.predict(
        handle_file(str(src)), "tiny", "cpu", "random", 3, "", None, 128, None, api_name="/degradation_lab")
    lq, restored, gt = _read(lq), _read(restored), _read(gt)
    assert gt.shape == (128, 128, 3) and np.array_equal(gt, img)
    assert lq.shape == (32, 32, 3) and restored.shape == (128, 128, 3)
    # the same task and noise seed in this process give the same LQ image
    task = DegradationSpace.from_opt(None).sample(np.random.default_rng(3))
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    mine = degrade(t, [task], generator=torch.Generator().manual_seed(3), scale=4)
    mine = (mine[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert np.abs(mine.astype(int) - lq).max() <= 1
    assert np.abs(reference.upscale(lq).astype(int) - restored).max() <= 1
    from restoration.metrics import psnr

    assert psnr_value == pytest.approx(psnr(restored, gt, crop_border=4), abs=1e-3)
    assert 5.0 < psnr_value < 60.0
    assert task.short_id in stats and "PSNR" in stats


def test_degradation_lab_bank_task_and_groups(client, photos, tmp_path):
    from restoration.degradations import TaskBank

    img = np.ascontiguousarray(next(iter(photos.values()))[:96, :96])
    src = handle_file(str(_write(tmp_path / "gt.png", img)))
    # a task of the default bank (64 tasks sampled with seed 0), by index and by id
    bank = TaskBank.sample(64, seed=0)
    out_idx = client.predict(src, "tiny", "cpu", "bank", 0, "5", None, 96, None, api_name="/degradation_lab")
    out_id = client.predict(src, "tiny", "cpu", "bank", 0, bank[5].task_id, None, 96, None,
                            api_name="/degradation_lab")
    assert bank[5].short_id in out_idx[4] and out_idx[3] == out_id[3]
    assert np.array_equal(_read(out_idx[0]), _read(out_id[0]))
    # the default bank has no groups: a clear message
    with pytest.raises(AppError, match="no groups"):
        client.predict(src, "tiny", "cpu", "group", 0, "", "g1", 96, None, api_name="/degradation_lab")
    # an uploaded bank with groups
    grouped = bank.with_groups({"hard": [1, 2, 3], "easy": [7]})
    path = grouped.save(tmp_path / "bank.json")
    out = client.predict(src, "tiny", "cpu", "group", 0, "", "easy", 96, handle_file(str(path)),
                         api_name="/degradation_lab")
    assert bank[7].short_id in out[4] and "group 'easy'" in out[4]
    with pytest.raises(AppError, match="out of range"):
        client.predict(src, "tiny", "cpu", "bank", 0, "999", None, 96, None, api_name="/degradation_lab")


def test_twenty_concurrent_requests(client, reference, crops, tmp_path):
    files = [_write(tmp_path / f"c{k}.png", c) for k, c in enumerate(crops)]
    t0 = time.perf_counter()
    jobs = [client.submit(handle_file(str(f)), "tiny", 4, 0, "cpu", api_name="/upscale") for f in files]
    results = [job.result(timeout=120) for job in jobs]
    elapsed = time.perf_counter() - t0
    assert len(results) == 20
    for crop, (_, png, _) in zip(crops, results):
        out = _read(png)
        assert out.shape == (96, 128, 3)
        assert np.abs(out.astype(int) - reference.upscale(crop)).max() <= 1
    print(f"20 concurrent upscale requests answered in {elapsed:.2f} s")


def test_bad_inputs_get_clean_errors(client, server, tmp_path, photos):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(AppError, match="not an image") as err:
        client.predict(handle_file(str(text)), "tiny", 4, 0, "cpu", api_name="/upscale")
    assert "Traceback" not in str(err.value) and str(server.port) not in str(err.value)
    big = _write(tmp_path / "big.png", np.zeros((200, 200, 3), np.uint8))  # 40,000 px > 20,000
    with pytest.raises(AppError, match=r"too large: 200x200 = 40,000 pixels.*at most 20,000"):
        client.predict(handle_file(str(big)), "tiny", 4, 0, "cpu", api_name="/upscale")
    small = _write(tmp_path / "small.png", np.ascontiguousarray(next(iter(photos.values()))[:16, :16]))
    with pytest.raises(AppError, match="unknown model"):
        client.predict(handle_file(str(small)), "../../etc/passwd", 4, 0, "cpu", api_name="/upscale")
    with pytest.raises(AppError, match="output scale"):
        client.predict(handle_file(str(small)), "tiny", 100, 0, "cpu", api_name="/upscale")
    with pytest.raises(AppError, match="upload an image"):
        client.predict(None, "tiny", 4, 0, "cpu", api_name="/upscale")
    # the server is still up and answers
    assert server.alive()
    _, png, _ = client.predict(handle_file(str(small)), "tiny", 4, 0, "cpu", api_name="/upscale")
    assert _read(png).shape == (64, 64, 3)


def test_model_loaded_once_and_server_shuts_down(server):
    assert server.alive()
    log = "".join(server.log)
    assert "Traceback" not in log and "request failed" not in log, log
    loads = [line for line in server.log if "loaded model tiny on cpu" in line]
    assert len(loads) == 1, f"model loaded {len(loads)} times:\n{log}"  # cached per (name, device)
    assert server.stop() == 0
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", server.port)) != 0, "port still open after shutdown"
