"""In-process tests of the demo's request logic (no server): model cache, upload checks, previews, the lab's
task selection, the ``restoration demo`` options and the app's wiring."""
from __future__ import annotations

import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from restoration.app import lab
from restoration.app.service import (
    DemoConfig,
    ModelCache,
    ResultStore,
    available_models,
    check_pixels,
    load_upload,
    preview_pair,
    to_display,
    upscale_request,
)
from restoration.errors import RestorationError


@pytest.fixture
def config(tiny_zoo, tmp_path):
    return DemoConfig(max_pixels=50_000, models_dir=str(tiny_zoo), result_dir=str(tmp_path / "results"))


@pytest.fixture
def cache(config):
    return ModelCache(available_models(config), config.models_dir)


def test_zoo_entries_become_dropdown_choices(config, tiny_zoo, tmp_path):
    choices = available_models(config)
    assert [(c.name, c.scale, c.default) for c in choices] == [("tiny", 4, True)]
    assert "test model" in choices[0].description and choices[0].trained_on == "nothing (random weights)"
    from restoration.app.service import ModelChoice
    from restoration.app.ui import _model_markdown

    text = _model_markdown(ModelChoice("m", "m", "a model", 2, trained_on="DF2K", metrics=(("PSNR-Y", 27.5),)))
    assert text.startswith("**m** · ×2 — a model") and "trained on: DF2K" in text and "PSNR-Y: 27.5" in text
    assert "No model installed" in _model_markdown(None)
    extra = available_models(DemoConfig(models_dir=str(tiny_zoo), model_files=(str(tiny_zoo / "tiny.safetensors"),)))
    assert [c.name for c in extra] == ["tiny", "tiny.safetensors"]  # a file named like a zoo model: full file name
    with pytest.raises(RestorationError, match="model file not found"):
        available_models(DemoConfig(models_dir=str(tiny_zoo), model_files=(str(tmp_path / "nope.pth"),)))


def test_cache_loads_each_model_once_under_concurrency(cache):
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("tiny", "cpu"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.loads == 1 and all(u is got[0] for u in got)
    assert cache.get(None, "auto") is got[0]  # "auto" resolves to cpu here: same key, same object
    assert cache.loads == 1
    with pytest.raises(RestorationError, match="unknown model 'x'"):
        cache.get("x")


def test_empty_zoo_gives_a_clear_message(tmp_path):
    cache = ModelCache(available_models(DemoConfig(models_dir=str(tmp_path))), str(tmp_path))
    with pytest.raises(RestorationError, match="no model is installed"):
        cache.get(None)


def test_upload_checks(tmp_path):
    text = tmp_path / "a.txt"
    text.write_text("hello")
    with pytest.raises(RestorationError, match="not an image") as err:
        load_upload(str(text), 1000, name="holiday.jpg")
    assert "holiday.jpg" in str(err.value) and str(tmp_path) not in str(err.value)
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((50, 60, 3), np.uint8))
    with pytest.raises(RestorationError, match="60x50 = 3,000 pixels.*at most 2,999"):
        load_upload(str(big), 2_999)
    assert load_upload(str(big), 3_000).shape == (50, 60, 3)
    with pytest.raises(RestorationError, match="upload an image"):
        load_upload(None, 10)
    check_pixels(10, 10, 100)
    with pytest.raises(RestorationError, match="output too large"):
        check_pixels(11, 10, 100, what="output")


def test_display_conversions():
    img16 = np.full((4, 5, 3), 65535, np.uint16)
    img16[0, 0] = 257 * 7
    d = to_display(img16)
    assert d.dtype == np.uint8 and d[0, 0, 0] == 7 and d[1, 1, 1] == 255
    assert to_display(np.zeros((3, 4), np.uint8)).shape == (3, 4, 3)
    before, after, shrunk = preview_pair(np.zeros((10, 10, 3), np.uint8), np.zeros((40, 40, 4), np.uint8),
                                         max_pixels=400)
    assert shrunk and before.shape[:2] == after.shape[:2] == (20, 20) and after.shape[2] == 4


def test_upscale_request_writes_full_depth_png(cache, config, tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 65535, (20, 24, 4), dtype=np.uint16)  # 16-bit RGBA keeps depth and alpha in the PNG
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), img)
    calls = []
    store = ResultStore.create(config.result_dir)
    res = upscale_request(cache, store, config, str(src), "tiny", "cpu", outscale=None, tile=8,
                          progress=lambda d, t: calls.append((d, t)), name="in.png")
    out = cv2.imread(str(res.png), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (80, 96, 4)
    assert res.after.dtype == np.uint8 and res.after.shape == (80, 96, 4) and res.before.shape == res.after.shape
    assert calls and calls[-1][0] == calls[-1][1] > 1  # tile progress reached its total
    assert res.in_size == (24, 20) and res.out_size == (96, 80) and "24×20 → 96×80" in res.summary()
    assert res.png.name == "in_tiny_x4.png"
    assert cache.get("tiny", "cpu").tile == 0  # the request's tile was not written into the shared Upscaler
    with pytest.raises(RestorationError, match="output too large"):
        upscale_request(cache, store, DemoConfig(max_pixels=480, models_dir=config.models_dir), str(src), "tiny",
                        "cpu", outscale=16)


def test_result_store_sweeps_old_files(tmp_path):
    store = ResultStore.create(str(tmp_path / "r"))
    first = store.write_png(np.zeros((2, 2, 3), np.uint8), "a/../b c")
    assert first.name == "a_.._b_c.png" and first.parent.parent == store.root  # no path separator survives
    mine = store.root / "user-folder"
    mine.mkdir()
    (mine / "keep.txt").write_text("not the store's")
    store.ttl_s = -1.0  # everything is old now
    second = store.write_png(np.zeros((2, 2, 3), np.uint8), "x")
    assert not first.exists() and second.exists()
    assert (mine / "keep.txt").exists()  # a folder the store did not make is never touched


def test_pick_task_modes():
    from restoration.degradations import DegradationSpace, TaskBank

    bank = TaskBank.sample(10, seed=1).with_groups({"hard": [2, 4], "one": [7]})
    a, b = lab.pick_task(bank, "random", 5), lab.pick_task(bank, "random", 5)
    assert a.task == b.task == DegradationSpace.from_opt(None).sample(np.random.default_rng(5))
    assert lab.pick_task(bank, "bank", 0, "3").index == 3
    assert lab.pick_task(bank, "bank", 0, bank[6].task_id[:8]).index == 6
    assert lab.pick_task(bank, "group", 0, group="one").index == 7
    assert {lab.pick_task(bank, "group", s, group="hard").index for s in range(20)} == {2, 4}
    with pytest.raises(RestorationError, match="out of range"):
        lab.pick_task(bank, "bank", 0, "10")
    with pytest.raises(RestorationError, match="give a task index"):
        lab.pick_task(bank, "bank", 0, " ")
    with pytest.raises(RestorationError, match="unknown group 'nope'"):
        lab.pick_task(bank, "group", 0, group="nope")
    with pytest.raises(RestorationError, match="no groups"):
        lab.pick_task(TaskBank.sample(3, seed=0), "group", 0, group="x")
    with pytest.raises(RestorationError, match="unknown task mode"):
        lab.pick_task(bank, "other", 0)


def test_center_crop_is_a_multiple_of_the_scale():
    img = np.arange(100 * 90 * 3, dtype=np.uint8).reshape(100, 90, 3)
    crop = lab.center_crop(img, 70, 4)
    assert crop.shape == (68, 68, 3) and np.array_equal(crop, img[16:84, 11:79])
    assert lab.center_crop(img, 0, 4).shape == (100, 88, 3)
    with pytest.raises(RestorationError, match="too small"):
        lab.center_crop(img[:20], 64, 4)


def test_demo_options_and_light_help():
    from restoration.cli import build_parser

    args = build_parser().parse_args(["demo", "--port", "8001", "--concurrency", "3", "--max-pixels", "1000"])
    assert (args.host, args.port, args.concurrency, args.max_pixels) == ("127.0.0.1", 8001, 3, 1000)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--concurrency", "0"])
    code = ("import sys; from restoration.cli import main\n"
            "try:\n    main(['demo', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'gradio' not in sys.modules and 'torch' not in sys.modules, 'heavy import in --help'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--max-pixels" in out.stdout and "--concurrency" in out.stdout


def test_build_demo_wires_both_tabs(config):
    from restoration.app import DemoService, build_demo

    service = DemoService.create(config)
    demo = build_demo(service)
    names = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert {"upscale", "degradation_lab"} <= names
    assert service.cache.names == ["tiny"] and [c.name for c in service.choices] == ["tiny"]
    assert service.samples  # examples: datasets/samples or the offline photos
    assert not [k for k in vars(demo) if k.startswith("restoration")]  # the Blocks object carries no state of ours
    demo.close()


def test_service_holds_the_demo_state_and_serves_requests(config, tmp_path):
    """Two services are independent (their own cache and result folder); requests go through the service."""
    from restoration.app import DemoService

    photo = tmp_path / "in.png"
    cv2.imwrite(str(photo), np.full((12, 10, 3), 90, np.uint8))
    a = DemoService.create(config)
    b = DemoService.create(DemoConfig(models_dir=config.models_dir, result_dir=str(tmp_path / "other")))
    result = a.upscale(str(photo), None, "cpu", name="in.png")
    assert result.out_size == (40, 48) and result.png.is_file() and result.png.parent.parent == a.store.root
    assert a.cache.loads == 1 and b.cache.loads == 0 and a.store.root != b.store.root
    samples = tmp_path / "samples"
    samples.mkdir()
    for name in ("b.png", "a.jpg", "._a.jpg", "notes.txt"):
        (samples / name).write_bytes(b"x")
    picked = DemoService.create(DemoConfig(models_dir=config.models_dir, samples_dir=str(samples))).samples
    assert [p.rsplit("/", 1)[1] for p in picked] == ["a.jpg", "b.png"]


def test_checkout_launcher_forwards_to_the_demo_command():
    from demo_server import REPO

    out = subprocess.run([sys.executable, str(REPO / "app" / "main.py"), "--help"], capture_output=True, text=True,
                         timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: restoration demo") and "--max-pixels" in out.stdout


def test_build_demo_without_any_model(tmp_path):
    """An empty model folder still gives a page; requests then explain how to add a model."""
    from restoration.app import DemoService, build_demo

    service = DemoService.create(DemoConfig(models_dir=str(tmp_path)))
    demo = build_demo(service)
    assert service.cache.names == []
    with pytest.raises(RestorationError, match="no model is installed"):
        service.cache.get(None)
    demo.close()


def test_busy_port_and_bad_bank_are_clear_errors(tiny_zoo, tmp_path):
    import socket

    from restoration.app import launch

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RestorationError, match=f"port {port} on 127.0.0.1 is in use: choose another with --port"):
            launch(DemoConfig(models_dir=str(tiny_zoo)), port=port, block=False)
    with pytest.raises(RestorationError, match="none.json"):
        launch(DemoConfig(models_dir=str(tiny_zoo), bank=str(tmp_path / "none.json")), block=False)
