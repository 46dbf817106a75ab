"""Command line habits: Real-ESRGAN's options, unknown options, denoise strength, errors and --debug."""
from __future__ import annotations

import errno

import numpy as np
import pytest
import torch
from robust_cases import Case, params, write_png

from restoration.errors import RestorationError


def _src(t):
    return write_png(t.tmp / "in" / "a.png", (8, 10, 3))


def realesrgan_flags(t):
    model = t.zoo / "tiny.safetensors"
    r = t.cli("upscale", "-i", _src(t), "-o", t.tmp / "out", "--model_path", model, "--tile_pad", "4",
              "--alpha_upsampler", "bicubic", "--fp32", "-t", "4", "--suffix", "up", "--ext", "png", "-s", "2")
    assert r.rc == 0, r.err
    assert (t.tmp / "out" / "a_up.png").is_file()


def realesrgan_model_name(t):
    r = t.cli("upscale", "-i", _src(t), "-o", t.tmp / "o.png", "--model_name", "tiny", "--denoise_strength", "0.5")
    r.one_error_line("upscale", "denoise", "'tiny' has none")
    assert t.cli("upscale", "-i", _src(t), "-o", t.tmp / "o.png", "--model_name", "tiny").rc == 0


def face_enhance(t):
    t.cli("upscale", "-i", _src(t), "-o", t.tmp / "out", "--face_enhance").one_error_line(
        "upscale", "--face_enhance is not supported", "GFPGAN")
    assert not (t.tmp / "out").exists()


def typo_flag(t):
    t.cli("upscale", "-i", _src(t), "-o", t.tmp / "out", "--tlie", "4").one_error_line(
        "upscale", "unrecognized option --tlie", "did you mean --tile?")


def tasks_typo_flag(t):
    t.cli("tasks", "sample", "--nmu", "3", "--out", t.tmp / "b.json").one_error_line(
        "tasks sample", "did you mean --num?")


def missing_input(t):
    t.cli("upscale", "-o", t.tmp / "out").one_error_line("upscale", "-i/--input")


def denoise_no_pair(t):
    line = t.cli("upscale", "-i", _src(t), "-o", t.tmp / "out", "-dn", "0.5").one_error_line(
        "upscale", "denoise strength", "'tiny' has none")
    assert "realesr-general-x4v3" in line and not (t.tmp / "out").exists()


def denoise_weight_file(t):
    t.cli("upscale", "-i", _src(t), "-o", t.tmp / "out", "-dn", "0.5", "--model-path",
          t.zoo / "tiny.safetensors").one_error_line("upscale", "weight file")


def denoise_range(t):
    t.cli("upscale", "-i", _src(t), "-o", t.tmp / "out", "-n", "tiny-general-x4v3", "-dn", "1.5").one_error_line(
        "upscale", "[0, 1]")


def denoise_pair(t):
    from restoration.inference import load_model, read_image

    r = t.cli("upscale", "-i", _src(t), "-o", t.tmp / "o.png", "-n", "tiny-general-x4v3", "-dn", "0.3")
    assert r.rc == 0, r.err
    a, _ = load_model("tiny-general-x4v3")
    b, _ = load_model("tiny-general-wdn-x4v3")
    sa, sb = a.state_dict(), b.state_dict()
    a.load_state_dict({k: 0.3 * sa[k] + 0.7 * sb[k] for k in sa})
    img = read_image(_src(t))
    with torch.no_grad():
        ref = a(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)
    ref = (ref[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(read_image(t.tmp / "o.png").astype(int) - ref).max() <= 1


def gpu_without_cuda(t):
    if torch.cuda.is_available():
        pytest.skip("CPU-only behaviour")
    t.cli("upscale", "-i", _src(t), "-o", t.tmp / "out", "-g", "0").one_error_line("upscale", "CUDA is not available")


def half_on_cpu(t):
    if torch.cuda.is_available():
        pytest.skip("CPU-only behaviour")
    r = t.cli("upscale", "-i", _src(t), "-o", t.tmp / "o.png", "--half", "--device", "cpu")
    assert r.rc == 0 and "--half is for CUDA only" in r.err


def debug_traceback(t):
    r = t.cli("upscale", "-i", t.tmp / "nope.png", "-o", t.tmp / "out", "--debug")
    assert r.rc == 2 and "Traceback" in r.err and "restoration upscale: error: input not found" in r.err
    r = t.cli("upscale", "-i", t.tmp / "nope.png", "-o", t.tmp / "out")
    r.one_error_line("upscale", "input not found")


def internal_error(t):
    from restoration.inference.upscaler import Upscaler

    def broken(self, *a, **k):
        raise TypeError("unsupported operand")

    t.mp.setattr(Upscaler, "upscale", broken)
    line = t.cli("upscale", "-i", _src(t), "-o", t.tmp / "o.png").one_error_line(
        "upscale", "internal error (TypeError: unsupported operand)", "--debug")
    assert r"Traceback" not in line


def os_error(t):
    import restoration.cli._upscale_plan as plan

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/photos")

    t.mp.setattr(plan, "collect", denied)
    (t.tmp / "in").mkdir()
    t.cli("upscale", "-i", t.tmp / "in", "-o", t.tmp / "out").one_error_line(
        "upscale", "/srv/photos: Permission denied")


def out_of_memory(t):
    from restoration.inference.upscaler import Upscaler

    def oom(self, *a, **k):
        raise MemoryError

    t.mp.setattr(Upscaler, "upscale", oom)
    t.cli("upscale", "-i", _src(t), "-o", t.tmp / "o.png").one_error_line("upscale", "out of memory")


def api_denoise_no_pair(t):
    from restoration import Upscaler

    with pytest.raises(RestorationError, match="has none in the zoo"):
        Upscaler("tiny", device="cpu", denoise_strength=0.5)


CASES = [
    Case("realesrgan-flags", "CLI", "upscale with Real-ESRGAN's spellings: --model_path, --tile_pad, "
         "--alpha_upsampler bicubic, --fp32, -t, --suffix, --ext", "accepted; same meaning as ours", realesrgan_flags),
    Case("realesrgan-model-name", "CLI", "upscale --model_name tiny (and --denoise_strength)", "accepted",
         realesrgan_model_name),
    Case("realesrgan-face-enhance", "CLI", "upscale --face_enhance", "one line: not supported, and why",
         face_enhance),
    Case("cli-typo-flag", "CLI", "upscale --tlie 4", "one line naming the closest option (--tile)", typo_flag),
    Case("cli-tasks-typo-flag", "CLI", "tasks sample --nmu 3", "one line naming --num", tasks_typo_flag),
    Case("cli-missing-input", "CLI", "upscale without -i", "one line naming -i/--input", missing_input),
    Case("denoise-no-pair", "CLI", "upscale -dn 0.5 with a model that has no denoise twin",
         "one line saying why (-dn interpolates realesr-general-x4v3 with its wdn twin)", denoise_no_pair),
    Case("denoise-weight-file", "CLI", "upscale -dn 0.5 --model-path FILE", "one line: a weight file has no twin",
         denoise_weight_file),
    Case("denoise-range", "CLI", "upscale -dn 1.5", "refused: must be in [0, 1]", denoise_range),
    Case("denoise-pair", "CLI", "upscale -n tiny-general-x4v3 -dn 0.3 (a zoo with the wdn twin)",
         "weights interpolated 0.3/0.7 as Real-ESRGAN's dni", denoise_pair),
    Case("api-denoise-no-pair", "API", "Upscaler('tiny', denoise_strength=0.5)", "RestorationError saying why",
         api_denoise_no_pair),
    Case("cli-gpu-without-cuda", "CLI", "upscale -g 0 on a machine without CUDA", "one line: CUDA is not available",
         gpu_without_cuda),
    Case("cli-half-on-cpu", "CLI", "upscale --half on the CPU", "runs in float32 with a one-line note", half_on_cpu),
    Case("cli-debug-traceback", "CLI", "an error with and without --debug",
         "the traceback only with --debug; one line without", debug_traceback),
    Case("cli-internal-error", "CLI", "a bug inside the upscaler (TypeError)",
         "one line 'internal error (...)' pointing to --debug, no traceback", internal_error),
    Case("cli-os-error", "CLI", "a PermissionError while listing the input folder",
         "one line naming the path and the reason", os_error),
    Case("cli-out-of-memory", "CLI", "MemoryError while upscaling one file", "one line: out of memory (try --tile)",
         out_of_memory),
]


@pytest.mark.parametrize("case", params(CASES))
def test_case(case, ctx):
    case.run(ctx)
