"""Model files and export: non-finite, malicious, misplaced or unwritable weights."""
from __future__ import annotations

import errno

import pytest
import torch
from robust_cases import Case, evil_pickle, fail_creates, fail_writes, leftovers, nan_state, params, snapshot, write_png

from restoration.errors import RestorationError


def _nan_file(t, kind="nan", ext=".safetensors"):
    path = t.tmp / f"{kind}{ext}"
    state = nan_state(kind)
    if ext == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path), metadata={"arch": "SRVGGNetCompact", "scale": "2",
                                              "arch_kwargs": '{"num_feat": 4, "num_conv": 1, "upscale": 2}'})
    else:
        torch.save({"params_ema": state}, path)
    return path


def _good_ckpt(t):
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    path = t.tmp / "net_g_100.pth"
    torch.save({"params": SRVGGNetCompact(num_feat=4, num_conv=1, upscale=2).state_dict()}, path)
    return path


EXPORT_ARCH = ["--arch", "SRVGGNetCompact", "--arch-kwargs", '{"num_feat": 4, "num_conv": 1, "upscale": 2}']


def upscale_nan_safetensors(t):
    src = write_png(t.tmp / "in" / "a.png")
    model = _nan_file(t)
    r = t.cli("upscale", "-i", src, "-o", t.tmp / "out", "--model-path", model)
    r.one_error_line("upscale", str(model), "tensor 'body.0.", "holds NaN")
    assert not (t.tmp / "out").exists()


def upscale_inf_pth(t):
    src = write_png(t.tmp / "in" / "a.png")
    model = _nan_file(t, "inf", ".pth")
    t.cli("upscale", "-i", src, "-o", t.tmp / "out", "--model-path", model).one_error_line(
        "upscale", "tensor 'body.0.bias'", "Inf")


def api_nan_upscaler(t):
    from restoration import Upscaler

    with pytest.raises(RestorationError, match=r"tensor '.*' holds NaN"):
        Upscaler(str(_nan_file(t)), device="cpu")


def api_save_model_nan(t):
    from restoration.inference import save_model

    with pytest.raises(RestorationError, match="holds NaN"):
        save_model(nan_state(), t.tmp / "x.safetensors", arch="SRVGGNetCompact",
                   arch_kwargs=dict(num_feat=4, num_conv=1, upscale=2), scale=2, name="x")
    assert list(t.tmp.iterdir()) == []


def export_nan_checkpoint(t):
    ckpt = _nan_file(t, "nan", ".pth")
    t.cli("export", "--checkpoint", ckpt, "--out", t.tmp / "m.safetensors", *EXPORT_ARCH).one_error_line(
        "export", str(ckpt), "NaN")
    assert not (t.tmp / "m.safetensors").exists()


def upscale_pickle_code(t):
    src = write_png(t.tmp / "in" / "a.png")
    model = evil_pickle(t.tmp / "evil.pth")
    t.cli("upscale", "-i", src, "-o", t.tmp / "o.png", "--model-path", model).one_error_line(
        "upscale", "refused to load", "weights_only")
    assert not (t.tmp / "o.png").exists()


def export_pickle_code(t):
    ckpt = evil_pickle(t.tmp / "evil.pth")
    t.cli("export", "--checkpoint", ckpt, "--out", t.tmp / "e.safetensors").one_error_line("export", "refused to load")
    assert not (t.tmp / "e.safetensors").exists()


def export_yaml_python_tag(t):
    ckpt = _good_ckpt(t)
    opt = t.tmp / "train.yml"
    opt.write_text("name: x\nnetwork_g: !!python/object/apply:os.system ['touch pwned']\n")
    t.cli("export", "--checkpoint", ckpt, "--out", t.tmp / "m.safetensors", "--opt", opt).one_error_line(
        "export", "cannot read option file", "python/object/apply")
    assert not (t.tmp / "pwned").exists() and not (t.tmp / "m.safetensors").exists()


def export_register_outside_zoo(t):
    ckpt = _good_ckpt(t)
    before = snapshot(t.zoo)
    out = t.tmp / "elsewhere" / "m.safetensors"
    t.cli("export", "--checkpoint", ckpt, "--out", out, "--register", *EXPORT_ARCH).one_error_line(
        "export", "not inside the models folder")
    assert not out.exists() and not out.parent.exists() and snapshot(t.zoo) == before


def export_existing_out(t):
    ckpt = _good_ckpt(t)
    out = t.tmp / "m.safetensors"
    out.write_bytes(b"previous")
    t.cli("export", "--checkpoint", ckpt, "--out", out, *EXPORT_ARCH).one_error_line("export", "--overwrite")
    assert out.read_bytes() == b"previous"


def export_disk_full(t):
    ckpt = _good_ckpt(t)

    def save_file(state, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    t.mp.setattr("safetensors.torch.save_file", save_file)
    out = t.tmp / "out" / "m.safetensors"
    t.cli("export", "--checkpoint", ckpt, "--out", out, *EXPORT_ARCH).one_error_line(
        "export", str(out), "No space left on device")
    assert not out.exists() and leftovers(t.tmp) == []


def export_read_only(t):
    ckpt = _good_ckpt(t)
    fail_creates(t.mp, errno.EROFS)
    out = t.tmp / "m.safetensors"
    t.cli("export", "--checkpoint", ckpt, "--out", out, *EXPORT_ARCH).one_error_line(
        "export", "Read-only file system")
    assert not out.exists() and leftovers(t.tmp) == []


def export_disk_full_keeps_old(t):
    ckpt = _good_ckpt(t)
    out = t.tmp / "m.safetensors"
    out.write_bytes(b"previous model")
    fail_writes(t.mp)
    t.mp.setattr("safetensors.torch.save_file", lambda state, filename, metadata=None: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    t.cli("export", "--checkpoint", ckpt, "--out", out, "--overwrite", *EXPORT_ARCH).one_error_line(
        "export", "No space left on device")
    assert out.read_bytes() == b"previous model" and leftovers(t.tmp) == []


def upscale_garbage_model(t):
    src = write_png(t.tmp / "in" / "a.png")
    model = t.tmp / "m.safetensors"
    model.write_bytes(b"\x00" * 64)
    t.cli("upscale", "-i", src, "-o", t.tmp / "out", "--model-path", model).one_error_line(
        "upscale", "not a valid safetensors file")


def upscale_unknown_model_hint(t):
    src = write_png(t.tmp / "in" / "a.png")
    line = t.cli("upscale", "-i", src, "-o", t.tmp / "out", "-n", "TINY_general_x4v3").one_error_line(
        "upscale", "unknown model", "tiny")
    assert "did you mean 'tiny-general-x4v3'?" in line


def upscale_realesrgan_name(t):
    src = write_png(t.tmp / "in" / "a.png")
    line = t.cli("upscale", "-i", src, "-o", t.tmp / "out", "-n", "RealESRGAN_x4plus").one_error_line(
        "upscale", "RealESRGAN_x4plus")
    assert "tiny" in line or "import" in line, line  # the installed names, or how to install it


CASES = [
    Case("upscale-nan-safetensors", "CLI", "upscale with an all-NaN .safetensors (--model-path)",
         "refused at load: one line naming the file and the first NaN tensor; no output", upscale_nan_safetensors),
    Case("upscale-inf-pth", "CLI", "upscale with a BasicSR .pth holding an Inf bias",
         "refused at load, naming the tensor", upscale_inf_pth),
    Case("api-nan-upscaler", "API", "Upscaler('nan.safetensors')", "RestorationError naming the tensor",
         api_nan_upscaler),
    Case("api-save-model-nan", "API", "save_model() of NaN weights", "RestorationError; no file written",
         api_save_model_nan),
    Case("export-nan-checkpoint", "CLI", "export a checkpoint whose weights are NaN",
         "refused before writing; no .safetensors", export_nan_checkpoint),
    Case("upscale-pickle-code", "CLI", "upscale with a .pth whose pickle calls a function",
         "refused (torch.load weights_only); nothing run, no output", upscale_pickle_code),
    Case("export-pickle-code", "CLI", "export a .pth whose pickle calls a function", "refused; no output",
         export_pickle_code),
    Case("export-yaml-python-tag", "CLI", "export with an option file holding a !!python/object/apply tag",
         "refused by the safe YAML loader in one line; the command in the tag never runs", export_yaml_python_tag),
    Case("export-register-outside-zoo", "CLI", "export --register with --out outside the models folder",
         "refused before any file is written; manifest untouched", export_register_outside_zoo),
    Case("export-existing-out", "CLI", "export over an existing file without --overwrite",
         "refused; the file is untouched", export_existing_out),
    Case("export-disk-full", "CLI", "export on a full disk (ENOSPC while writing)",
         "one line naming the file and 'No space left on device'; no partial or temp file", export_disk_full),
    Case("export-read-only", "CLI", "export into a read-only folder (EROFS)", "one line; nothing written",
         export_read_only),
    Case("export-disk-full-keeps-old", "CLI", "export --overwrite on a full disk",
         "the previous model file is intact; no temp file", export_disk_full_keeps_old),
    Case("upscale-garbage-model", "CLI", "upscale with a .safetensors of zero bytes' worth of garbage",
         "one line: not a valid safetensors file", upscale_garbage_model),
    Case("upscale-unknown-model-hint", "CLI", "upscale -n with a mistyped zoo name",
         "one line listing the installed models and the closest name", upscale_unknown_model_hint),
    Case("upscale-realesrgan-name", "CLI", "upscale -n RealESRGAN_x4plus where it is not installed",
         "one line naming the model and the installed ones or how to import it", upscale_realesrgan_name),
]


@pytest.mark.parametrize("case", params(CASES))
def test_case(case, ctx):
    case.run(ctx)
