"""`restoration upscale / models / export` end to end, in process (main() returns the exit code)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import restoration  # noqa: F401
from restoration.cli import main
from restoration.inference import read_image, save_model, write_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    from restoration.inference.files import sha256_file

    root = tmp_path_factory.mktemp("zoo")
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=4, num_conv=1, upscale=2)
    kwargs = dict(num_feat=4, num_conv=1, upscale=2)
    path = save_model(net, root / "tiny.safetensors", arch="SRVGGNetCompact", arch_kwargs=kwargs, scale=2,
                      name="tiny")
    manifest = {"schema": 1, "default": "tiny", "models": {"tiny": {
        "file": "tiny.safetensors", "sha256": sha256_file(path), "arch": "SRVGGNetCompact", "scale": 2,
        "description": "random weights for tests", "trained_on": "nothing", "metrics": {"psnr": 1.0}}}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture()
def env(zoo, monkeypatch):
    monkeypatch.setenv("RESTORATION_MODELS_DIR", str(zoo))
    return zoo


@pytest.fixture()
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "in"
    write_image(d / "a.png", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    write_image(d / "b.jpg", rng.integers(0, 256, (10, 9, 3), dtype=np.uint8))
    write_image(d / "gray16.png", rng.integers(0, 65536, (8, 8), dtype=np.uint16))
    write_image(d / "rgba.png", rng.integers(0, 256, (8, 10, 4), dtype=np.uint8))
    write_image(d / "sub" / "c.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    return d


def _err(capsys):
    return capsys.readouterr().err


def test_folder(env, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["upscale", "-i", str(inputs), "-o", str(out), "-q"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_out.png", "b_out.jpg", "gray16_out.png", "rgba_out.png"]
    assert read_image(out / "a_out.png").shape == (24, 32, 3)
    g = read_image(out / "gray16_out.png")
    assert g.shape == (16, 16) and g.dtype == np.uint16
    assert read_image(out / "rgba_out.png").shape == (16, 20, 4)
    assert "upscaled 4 of 4 image(s) x2 with tiny" in capsys.readouterr().out


def test_recursive_keeps_subfolders_and_tiles(env, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["upscale", "-i", str(inputs), "-o", str(out), "--recursive", "--tile", "4", "--suffix", ""]) == 0
    assert read_image(out / "sub" / "c.png").shape == (12, 12, 3)
    assert (out / "a.png").is_file()
    err = _err(capsys)
    assert "tile" in err  # the progress bar over tiles


def test_single_file_to_file_with_outscale_and_ext(env, inputs, tmp_path, capsys):
    dst = tmp_path / "x.webp"
    assert main(["upscale", "-i", str(inputs / "a.png"), "-o", str(dst), "-s", "3.5"]) == 0
    assert read_image(dst).shape == (42, 56, 3)
    assert main(["upscale", "-i", str(inputs / "a.png"), "-o", str(tmp_path / "o"), "--ext", "jpg"]) == 0
    assert (tmp_path / "o" / "a_out.jpg").is_file()
    # RGBA never goes to JPEG: auto-switches to PNG
    assert main(["upscale", "-i", str(inputs / "rgba.png"), "-o", str(tmp_path / "o"), "--ext", "jpg"]) == 0
    assert read_image(tmp_path / "o" / "rgba_out.png").shape[2] == 4


def test_broken_file_in_folder_is_skipped_exit_nonzero(env, inputs, tmp_path, capsys):
    (inputs / "zero.png").write_bytes(b"")
    (inputs / "text.jpg").write_text("not an image")
    out = tmp_path / "out"
    assert main(["upscale", "-i", str(inputs), "-o", str(out), "-q"]) == 2
    captured = capsys.readouterr()
    assert "empty file (0 bytes)" in captured.err and "not an image" in captured.err
    assert "upscaled 4 of 6 image(s)" in captured.out and "2 failed" in captured.out
    assert (out / "a_out.png").is_file()


def test_two_inputs_same_output_name_keeps_the_first(env, inputs, tmp_path, capsys):
    write_image(inputs / "a.jpg", np.zeros((4, 4, 3), np.uint8))
    out = tmp_path / "out"
    assert main(["upscale", "-i", str(inputs), "-o", str(out), "--ext", "png", "-q"]) == 2
    assert "already written from" in _err(capsys)
    assert read_image(out / "a_out.png").shape == (8, 8, 3)  # a.jpg comes first in sorted order


@pytest.mark.parametrize("case,pattern", [
    ("missing", "input not found"),
    ("zero", "empty file"),
    ("text", "not an image"),
    ("truncated", "truncated or corrupt"),
    ("bomb", "over the limit of 50 pixels"),
])
def test_bad_single_inputs_one_line_exit_2(env, inputs, tmp_path, capsys, case, pattern):
    src = tmp_path / f"{case}.png"
    if case == "zero":
        src.write_bytes(b"")
    elif case == "text":
        src.write_text("hello")
    elif case == "truncated":
        src.write_bytes((inputs / "a.png").read_bytes()[:60])
    elif case == "bomb":
        src = inputs / "a.png"
    extra = ["--max-pixels", "50"] if case == "bomb" else []
    assert main(["upscale", "-i", str(src), "-o", str(tmp_path / "o"), *extra]) == 2
    err = _err(capsys).strip().splitlines()
    assert len(err) == 1 and pattern in err[0] and "Traceback" not in err[0]


def test_output_equal_to_input_refused_unless_overwrite(env, inputs, capsys):
    src = inputs / "a.png"
    before = src.read_bytes()
    assert main(["upscale", "-i", str(src), "-o", str(src)]) == 2
    assert "would overwrite the input" in _err(capsys) and src.read_bytes() == before
    # same folder without suffix would replace every input
    assert main(["upscale", "-i", str(inputs), "-o", str(inputs), "--suffix", ""]) == 2
    assert "would overwrite the input" in _err(capsys) and src.read_bytes() == before
    assert main(["upscale", "-i", str(src), "-o", str(src), "--overwrite", "-q"]) == 0
    assert read_image(src).shape == (24, 32, 3)


def test_model_errors(env, inputs, tmp_path, capsys):
    assert main(["upscale", "-i", str(inputs / "a.png"), "-o", str(tmp_path), "-n", "nope"]) == 2
    assert "unknown model name 'nope'; known models: tiny" in _err(capsys)
    empty = tmp_path / "empty-zoo"
    empty.mkdir()
    assert main(["upscale", "-i", str(inputs / "a.png"), "-o", str(tmp_path), "--models-dir", str(empty)]) == 2
    assert "no default model is installed" in _err(capsys)
    assert main(["upscale", "-i", str(inputs / "a.png"), "-o", str(tmp_path), "--model-path",
                 str(tmp_path / "none.pth")]) == 2
    assert "model file not found" in _err(capsys)


def test_half_on_cpu_is_refused_with_message(env, inputs, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("CPU-only behaviour")
    assert main(["upscale", "-i", str(inputs / "a.png"), "-o", str(tmp_path / "o"), "--half", "--device", "cpu"]) == 0
    assert "--half is for CUDA only" in _err(capsys)


def test_models_command(env, capsys, tmp_path):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "* tiny" in out and "x2" in out and "psnr=1.0" in out
    assert main(["models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["default"] is True
    assert main(["models", "--models-dir", str(tmp_path)]) == 0
    assert "no models installed" in capsys.readouterr().out


def test_export_from_experiment_folder(tmp_path, capsys):
    from basicsr.archs.srresnet_arch import MSRResNet

    exp = tmp_path / "experiments" / "demo_x2"
    (exp / "models").mkdir(parents=True)
    (exp / "train_demo.yml").write_text(
        "name: demo_x2\nnetwork_g:\n  type: MSRResNet\n  num_in_ch: 3\n  num_out_ch: 3\n  num_feat: 8\n"
        "  num_block: 1\n  upscale: 2\ndatasets:\n  train:\n    name: offline_photos\n")
    net = MSRResNet(num_feat=8, num_block=1, upscale=2)
    torch.save({"params": net.state_dict()}, exp / "models" / "net_g_500.pth")
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    out = zoo / "demo.safetensors"
    argv = ["export", "--checkpoint", str(exp / "models" / "net_g_500.pth"), "--out", str(out),
            "--register", "--default", "--models-dir", str(zoo), "--trained-on", "offline photos"]
    assert main(argv) == 0
    assert "architecture from option file" in capsys.readouterr().out
    from restoration.inference import load_model

    loaded, desc = load_model(out)
    assert desc.extra["iteration"] == 500 and desc.extra["train_dataset"] == "offline_photos"
    assert len(desc.extra["options_sha256"]) == 64
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), net.eval()(x))
    assert main(argv) == 2  # refuses to replace the file
    assert "exists" in _err(capsys)
    assert main(["models", "--models-dir", str(zoo)]) == 0
    assert "* demo" in capsys.readouterr().out


def test_export_refuses_code_pickles(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    torch.save({"params": Evil()}, tmp_path / "evil.pth")
    assert main(["export", "--checkpoint", str(tmp_path / "evil.pth"), "--out", str(tmp_path / "e.safetensors")]) == 2
    assert "refused to load" in _err(capsys)
    assert not (tmp_path / "e.safetensors").exists()


def test_exit_code_from_console_script(env, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "restoration", "upscale", "-i", str(tmp_path / "nope.png"),
                           "-o", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"restoration upscale: error: input not found: {tmp_path / 'nope.png'}"


def test_truncated_png_is_one_stderr_line_from_the_console(env, inputs, tmp_path):
    """OpenCV's own decoder warnings must not add lines to the one-line error."""
    cut = tmp_path / "cut.png"
    cut.write_bytes((inputs / "a.png").read_bytes()[:200])
    proc = subprocess.run([sys.executable, "-m", "restoration", "upscale", "-i", str(cut), "-o", str(tmp_path / "o"),
                           "-q"], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"restoration upscale: error: cannot decode {cut} (PNG): the file is truncated or corrupt"]


def test_realesrgan_spellings_map_to_our_options(capsys):
    from restoration.cli import build_parser

    args = build_parser().parse_args(["upscale", "-i", "x", "--model_path", "m.pth", "--tile_pad", "3", "-t", "64",
                                      "--alpha_upsampler", "bicubic", "--fp32", "-g", "1", "-dn", "0.4"])
    assert (args.model_path, args.tile_pad, args.tile, args.alpha_upsampler, args.half, args.device,
            args.denoise_strength) == ("m.pth", 3, 64, "resize", False, "cuda:1", 0.4)
    args = build_parser().parse_args(["upscale", "-i", "x", "--model_name", "tiny", "--half"])
    assert (args.model_name, args.half, args.tile_pad, args.device) == ("tiny", True, 16, "auto")
    with pytest.raises(SystemExit):
        main(["upscale", "--help"])
    text = capsys.readouterr().out
    assert "--tile-pad" in text and "--tile_pad" in text.split("Real-ESRGAN's spellings")[-1]
    assert "--model_path " not in text.split("options:")[-1]  # the aliases are not listed as options


def test_existing_outputs_and_earlier_runs_in_the_input_folder(env, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["upscale", "-i", str(inputs / "a.png"), "-o", str(out), "-q"]) == 0
    first = (out / "a_out.png").read_bytes()
    assert main(["upscale", "-i", str(inputs / "a.png"), "-o", str(out), "-q"]) == 2
    assert "a_out.png already exists; pass --overwrite" in _err(capsys)
    assert (out / "a_out.png").read_bytes() == first
    # into the input folder, twice: the second run does not take a_out.png & co. as inputs
    assert main(["upscale", "-i", str(inputs), "-o", str(inputs), "-q"]) == 0
    names = sorted(p.name for p in inputs.iterdir() if p.is_file())
    assert main(["upscale", "-i", str(inputs), "-o", str(inputs), "-q", "--overwrite"]) == 0
    assert "skipping 4 file(s) that are outputs of an earlier run" in _err(capsys)
    assert sorted(p.name for p in inputs.iterdir() if p.is_file()) == names


def test_output_names_are_checked_before_the_model_loads(env, inputs, tmp_path, capsys):
    for argv, message in (
        (["-o", str(tmp_path / "x.gif")], "GIF output is not supported"),
        (["--suffix", "../up"], "--suffix must be part of a file name"),
        (["-s", "100"], "--outscale must be in (0, 64]"),
        (["--max-output-pixels", "-5"], "--max-output-pixels"),
    ):
        out = [] if "-o" in argv else ["-o", str(tmp_path / "o")]
        try:
            code = main(["upscale", "-i", str(inputs / "a.png"), *out, *argv])
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
        assert code == 2
        err = _err(capsys).strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "x.gif").exists() and not (tmp_path / "o").exists()


def test_threads_and_int8_flags_are_checked(env, inputs, tmp_path, capsys):
    src = str(inputs / "a.png")
    assert main(["upscale", "-i", src, "-o", str(tmp_path / "o"), "--threads", "0"]) == 2
    assert "--threads must be auto or a count" in _err(capsys)
    assert main(["upscale", "-i", src, "-o", str(tmp_path / "o"), "--threads", "1", "-q"]) == 0
    assert "1 thread(s)" in capsys.readouterr().out


@pytest.mark.slow
def test_int8_upscale_stays_close_to_float32(env, inputs, tmp_path, capsys):
    pytest.importorskip("torchao", reason="the [int8] extra")
    src = str(inputs / "a.png")
    assert main(["upscale", "-i", src, "-o", str(tmp_path / "f.png"), "--tile", "8", "-q"]) == 0
    assert main(["upscale", "-i", src, "-o", str(tmp_path / "q.png"), "--tile", "8", "--int8", "-q"]) == 0
    assert "in int8" in capsys.readouterr().out
    f32, i8 = read_image(tmp_path / "f.png").astype(int), read_image(tmp_path / "q.png").astype(int)
    assert f32.shape == i8.shape == (24, 32, 3)
    assert np.abs(f32 - i8).mean() <= 3  # int8 rounding, not a different picture
