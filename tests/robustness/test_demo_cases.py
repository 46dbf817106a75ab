"""Web demo: uploads, the degradation lab, results on disk, files of the server."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from robust_cases import Case, fail_creates, fail_writes, params, write_png

from restoration.errors import RestorationError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))  # tests/app/demo_server.py


def _header_bomb(path):
    from test_upscale_cases import header_bomb

    return header_bomb(path)


@pytest.fixture()
def demo(zoo, tmp_path):
    """(config, model cache, result store, bank source) over the robustness zoo, results in tmp_path/results."""
    from types import SimpleNamespace

    from restoration.app import lab
    from restoration.app.service import DemoConfig, ModelCache, ResultStore, available_models

    config = DemoConfig(max_pixels=50_000, models_dir=str(zoo), result_dir=str(tmp_path / "results"))
    cache = ModelCache(available_models(config), config.models_dir)
    return SimpleNamespace(config=config, cache=cache, store=ResultStore.create(config.result_dir),
                           banks=lab.BankSource(config), tmp=tmp_path)


def _upload(d, name="photo.png", shape=(40, 48, 3)):
    """An upload as gradio stores it: <temp>/<hash>/<name>."""
    return write_png(d.tmp / "gradio" / "3f9a0c" / name, shape)


def _page_message(fn):
    """What the page shows for ``fn()``: the ui's error wrapper turns exceptions into gr.Error."""
    import gradio as gr

    from restoration.app.ui import _user_error

    with pytest.raises(gr.Error) as err:
        _user_error(fn)()
    return str(err.value.message if hasattr(err.value, "message") else err.value)


def _lab(d, **kw):
    from restoration.app.lab import lab_request

    args = dict(path=str(_upload(d)), model="tiny", device="cpu", mode="random", seed=0, crop=32, name="photo.png")
    args.update(kw)
    return lab_request(d.cache, d.banks, d.config, **args)


def header_bomb_size(d):
    from restoration.app.service import load_upload

    bomb = _header_bomb(d.tmp / "gradio" / "1" / "bomb.png")
    with pytest.raises(RestorationError) as err:
        load_upload(str(bomb), 4_000_000, name="bomb.png")
    assert "60000x60000 = 3,600,000,000 pixels" in str(err.value) and "1073741824" not in str(err.value)


def bomb_before_decode(d):
    import restoration.inference.io as io
    from restoration.app.service import load_upload

    bomb = _header_bomb(d.tmp / "gradio" / "1" / "bomb.png")

    def decode(*a):
        raise AssertionError("decoded")

    d.mp.setattr(io, "_decode_quietly", decode)
    with pytest.raises(RestorationError, match="too large"):
        load_upload(str(bomb), 4_000_000, name="bomb.png")


def upload_named_not_by_path(d):
    from restoration.app.service import load_upload

    text = d.tmp / "gradio" / "77" / "holiday.png"
    text.parent.mkdir(parents=True)
    text.write_text("not an image")
    with pytest.raises(RestorationError) as err:
        load_upload(str(text), 50_000, name="holiday.png")
    assert "holiday.png" in str(err.value) and str(d.tmp) not in str(err.value)


def lab_bank_temp_path(d):
    bank = d.tmp / "gradio" / "ab12" / "bank.json"
    bank.parent.mkdir(parents=True)
    bank.write_text('{"format": "restoration.task_bank", "version": 1, "tasks": [')
    msg = _page_message(lambda: _lab(d, mode="bank", ref="0", bank_file=str(bank)))
    assert "bank.json" in msg and "not valid JSON" in msg and str(d.tmp) not in msg


def lab_bank_nan(d):
    from restoration.degradations import TaskBank

    doc = TaskBank.sample(2, seed=0).to_dict()
    doc["tasks"][0]["noise1"]["level"] = math.nan
    doc["tasks"][0].pop("id")
    bank = d.tmp / "gradio" / "cd34" / "bank.json"
    bank.parent.mkdir(parents=True)
    bank.write_text(json.dumps(doc))
    msg = _page_message(lambda: _lab(d, mode="bank", ref="0", bank_file=str(bank)))
    assert "internal error" not in msg and "noise1.level" in msg and str(d.tmp) not in msg


def lab_crop_one(d):
    msg = _page_message(lambda: _lab(d, crop=1))
    assert "crop size must be at least 32 px" in msg and "photo too small" not in msg


def lab_photo_too_small(d):
    msg = _page_message(lambda: _lab(d, path=str(write_png(d.tmp / "gradio" / "9" / "t.png", (20, 20, 3)))))
    assert "photo too small for the lab: 20x20" in msg


def result_disk_full(d):
    from restoration.app.service import upscale_request

    up = str(_upload(d))
    fail_writes(d.mp)
    msg = _page_message(lambda: upscale_request(d.cache, d.store, d.config, up, "tiny", "cpu"))
    assert "could not store the result (No space left on device)" in msg and str(d.tmp) not in msg


def result_read_only(d):
    from restoration.app.service import upscale_request

    up = str(_upload(d))
    fail_creates(d.mp, 30)
    msg = _page_message(lambda: upscale_request(d.cache, d.store, d.config, up, "tiny", "cpu"))
    assert "Read-only file system" in msg and str(d.tmp) not in msg


def output_too_large(d):
    from restoration.app.service import upscale_request

    msg = _page_message(lambda: upscale_request(d.cache, d.store, d.config, str(_upload(d, shape=(200, 240, 3))),
                                                "tiny", "cpu", outscale=16))
    assert "output too large" in msg


def unknown_model(d):
    from restoration.app.service import upscale_request

    msg = _page_message(lambda: upscale_request(d.cache, d.store, d.config, str(_upload(d)), "../../etc/passwd"))
    assert "unknown model" in msg


# ----------------------------------------------------------------------------------------------- a real server
@pytest.fixture(scope="module")
def server(zoo, tmp_path_factory):
    from demo_server import start_demo

    tmp = tmp_path_factory.mktemp("robust-demo")
    srv = start_demo(zoo, tmp)  # default limits: 4 MP per upload, so uploads up to 80 MB
    srv.tmp = tmp
    yield srv
    srv.stop()


def _call(srv, data):
    import httpx

    r = httpx.post(srv.url + "gradio_api/call/upscale", json={"data": data}, timeout=60)
    r.raise_for_status()
    with httpx.stream("GET", srv.url + f"gradio_api/call/upscale/{r.json()['event_id']}", timeout=120) as s:
        return "".join(s.iter_text())


def server_file_read(srv, tmp):
    secret = write_png(tmp / "secret.png", (10, 10, 3))
    for path in (str(secret), "/etc/hostname"):
        answer = _call(srv, [{"path": path, "meta": {"_type": "gradio.FileData"}}, "tiny", 2, 0, "cpu"])
        assert "event: error" in answer and "secret" not in answer and "event: complete" not in answer, answer


def upload_100mb(srv, tmp):
    import httpx

    r = httpx.post(srv.url + "gradio_api/upload", files={"files": ("big.png", b"\0" * (100 << 20), "image/png")},
                   timeout=120)
    assert r.status_code == 413, r.text


def upload_basename(srv, tmp):
    import httpx

    r = httpx.post(srv.url + "gradio_api/upload", files={"files": ("../../evil.png", b"x", "image/png")}, timeout=60)
    r.raise_for_status()
    stored = Path(r.json()[0])
    assert stored.name == "evil.png" and (srv.tmp / "gradio") in stored.parents
    assert not (srv.tmp / "evil.png").exists() and not (srv.tmp.parent / "evil.png").exists()


SERVICE = [
    Case("demo-header-bomb-size", "demo", "upload a PNG whose header claims 60000x60000",
         "refused with its real size (was reported as 1073741824x1073741824)", header_bomb_size),
    Case("demo-bomb-before-decode", "demo", "the same bomb", "refused before any pixel is decoded",
         bomb_before_decode),
    Case("demo-upload-named", "demo", "upload a text file named holiday.png", "the message names holiday.png, "
         "not the server's temporary path", upload_named_not_by_path),
    Case("demo-lab-bank-temp-path", "demo", "lab with an uploaded, truncated bank.json",
         "the message names bank.json, not the server's temp path", lab_bank_temp_path),
    Case("demo-lab-bank-nan", "demo", "lab with an uploaded bank holding a NaN noise level",
         "the field is named (was 'internal error (...)')", lab_bank_nan),
    Case("demo-lab-crop-1", "demo", "lab with crop size 1", "the crop size is blamed (was the photo's size)",
         lab_crop_one),
    Case("demo-lab-photo-too-small", "demo", "lab with a 20x20 photo", "the photo's size is blamed",
         lab_photo_too_small),
    Case("demo-result-disk-full", "demo", "upscale while the result disk is full",
         "'could not store the result (No space left on device)', no server path", result_disk_full),
    Case("demo-result-read-only", "demo", "upscale while the result folder is read-only",
         "the reason, no server path", result_read_only),
    Case("demo-output-too-large", "demo", "upscale x16 past the output limit", "refused before running",
         output_too_large),
    Case("demo-unknown-model", "demo", "request the model '../../etc/passwd'", "unknown model; nothing read",
         unknown_model),
]
SERVER = [
    Case("demo-server-file-read", "demo", "API call naming a server file (an image, /etc/hostname) as the upload",
         "refused by the server; the file is never read or returned", server_file_read),
    Case("demo-upload-100mb", "demo", "upload 100 MB", "HTTP 413 (limit: max pixels x 16 B + 16 MB)", upload_100mb),
    Case("demo-upload-basename", "demo", "upload a file named ../../evil.png", "stored by its base name inside "
         "the server's upload folder", upload_basename),
]
CASES = SERVICE + SERVER


@pytest.mark.parametrize("case", params(SERVICE))
def test_case(case, demo, monkeypatch):
    demo.mp = monkeypatch
    case.run(demo)


@pytest.mark.parametrize("case", params(SERVER))
def test_server_case(case, server, tmp_path):
    case.run(server, tmp_path)
