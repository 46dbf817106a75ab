"""The Gradio page: an "Upscale" tab (upload → before/after slider + PNG) and a "Degradation lab" tab.

Handlers run with ``preprocess=False``: they receive the upload's file record as sent and read the file with
``restoration.inference.read_image`` themselves, so 16-bit and RGBA files keep their depth and a bad file gets
our one-line message instead of a Pillow traceback. Every handler turns errors into ``gr.Error``; the server
never goes down for a request.
"""
from __future__ import annotations

import functools
import logging
import math
import traceback
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from restoration.app import lab as lab_mod
from restoration.app.service import DemoService, ModelChoice, device_choices
from restoration.errors import RestorationError

log = logging.getLogger("restoration.app")

# The LQ image is 1/scale the size of the others: stretch it to the same width, with visible pixels.
CSS = """
#lab-lq .image-frame, #lab-restored .image-frame, #lab-gt .image-frame { width: 100%; }
#lab-lq img, #lab-restored img, #lab-gt img { width: 100%; height: auto; object-fit: contain; }
#lab-lq img { image-rendering: pixelated; }
"""
TITLE = "restoration — real-world super-resolution"


def _user_error(fn: Callable) -> Callable:
    """Run a handler; input problems become their message in the page, anything else a short internal-error note."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except RestorationError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except MemoryError:
            raise gr.Error("out of memory: use a smaller image or a tile size under Advanced",
                           print_exception=False) from None
        except Exception as exc:  # noqa: BLE001 - the page must get a message, the log the traceback
            if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError (CUDA)
                raise gr.Error("the device ran out of memory: set a tile size under Advanced",
                               print_exception=False) from None
            log.error("request failed:\n%s", traceback.format_exc())
            raise gr.Error(f"internal error ({type(exc).__name__}: {exc}); details are in the server log",
                           print_exception=False) from None

    return wrapper


def _path(payload: Any) -> str | None:
    """The server-side path of an upload record (``preprocess=False`` hands us the record itself)."""
    if payload is None:
        return None
    if isinstance(payload, dict):
        return payload.get("path")
    return getattr(payload, "path", None) or (payload if isinstance(payload, str) else None)


def _name(payload: Any) -> str:
    orig = payload.get("orig_name") if isinstance(payload, dict) else None
    return orig or Path(_path(payload) or "image").name


def _number(value: Any, what: str, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RestorationError(f"{what} must be a number, got {value!r}") from None


def _progress_adapter(progress: gr.Progress, desc: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        progress((int(done), int(total)), desc=desc, unit="tiles")

    return report


def _model_label(choice: ModelChoice) -> str:
    """The dropdown entry: name, scale, and whether the model is an imported one."""
    label = f"{choice.name} (×{choice.scale})" if choice.scale else choice.name
    return label + (" · imported" if choice.origin == "imported" else "")


def _model_markdown(choice: ModelChoice | None) -> str:
    if choice is None:
        return ("_No model installed: add one to the model folder, import Real-ESRGAN's with `make assets`, or start "
                "with `--model FILE`._")
    scale = f" · ×{choice.scale}" if choice.scale else ""
    origin = f" · {choice.origin}" if choice.origin == "imported" else ""
    text = f"**{choice.name}**{scale}{origin} — {choice.description}"
    if choice.trained_on:
        text += f"  \ntrained on: {choice.trained_on}"
    if choice.licence:
        text += f"  \nlicence: {choice.licence}"
    if choice.metrics:
        text += "  \n" + " · ".join(f"{k}: {v}" for k, v in choice.metrics)
    return text


def build_demo(service: DemoService) -> gr.Blocks:
    """The Blocks app serving ``service`` (queue and launch are the caller's, with :data:`CSS`: see
    :func:`restoration.app.launch`). The handlers use ``service`` and the lab's bank source; the Blocks object
    carries no state of ours."""
    config, cache, samples = service.config, service.cache, service.samples
    choices = service.choices
    banks = lab_mod.BankSource(config)
    bank_groups = lab_mod.group_names(banks.default())
    devices = device_choices()
    by_name = {c.name: c for c in choices}
    # every installed model, shipped and imported (`make assets` adds Real-ESRGAN's released ones)
    model_values = [(_model_label(c), c.name) for c in choices]
    first = choices[0].name if choices else None

    @_user_error
    def upscale(image, model, outscale, tile, device, progress=gr.Progress()):
        result = service.upscale(
            _path(image), model, device or "auto",
            outscale=_number(outscale, "output scale", 0.0) or None, tile=int(_number(tile, "tile size", 0)),
            progress=_progress_adapter(progress, "upscaling"), name=_name(image),
        )
        return (result.before, result.after), str(result.png), result.summary()

    @_user_error
    def run_lab(image, model, device, mode, seed, ref, group, crop, bank_file, progress=gr.Progress()):
        result = lab_mod.lab_request(
            cache, banks, config, _path(image), model, device or "auto", mode or "random",
            seed=int(_number(seed, "seed", 0)), ref=None if ref is None else str(ref), group=group,
            crop=int(_number(crop, "crop size", 256)), bank_file=_path(bank_file),
            progress=_progress_adapter(progress, "restoring"), name=_name(image),
        )
        value = round(result.psnr_model, 4) if math.isfinite(result.psnr_model) else None  # JSON has no inf
        return result.lq, result.restored, result.gt, value, result.summary()

    @_user_error
    def bank_changed(bank_file):
        bank = banks.get(_path(bank_file))
        names = lab_mod.group_names(bank)
        note = f"{len(bank)} tasks, {len(names)} groups" if bank_file else f"default bank: {banks.label}"
        return gr.update(choices=names, value=names[0] if names else None), note

    def model_changed(name):
        choice = by_name.get(name)
        scale = choice.scale if choice is not None and choice.scale else gr.update()
        return _model_markdown(choice), scale

    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(f"# {TITLE}\nUpload a photo, pick a model, compare before/after. Degradations are tasks: "
                    "the *Degradation lab* tab shows how the model copes with one task at a time.")
        with gr.Tab("Upscale"):
            with gr.Row():
                with gr.Column(scale=1):
                    inp = gr.Image(label="Input image", type="filepath", image_mode=None,
                                   sources=["upload", "clipboard"], elem_id="upscale-input", height=360)
                    model = gr.Dropdown(model_values, value=first, label="Model", elem_id="upscale-model")
                    info = gr.Markdown(_model_markdown(by_name.get(first) if first is not None else None),
                                       elem_id="model-info")
                    with gr.Accordion("Advanced", open=False):
                        outscale = gr.Slider(1, 8, value=choices[0].scale if choices and choices[0].scale else 4,
                                             step=0.5, label="Output scale",
                                             info="final size factor; other than the model's scale, "
                                                  "the output is resized")
                        tile = gr.Number(0, precision=0, minimum=0, label="Tile size (px, 0 = whole image)",
                                         info="cut large images into tiles to bound memory")
                        device = gr.Dropdown(devices, value="auto", label="Device")
                    run = gr.Button("Upscale", variant="primary", elem_id="upscale-run")
                with gr.Column(scale=2):
                    slider = gr.ImageSlider(label="Before (bicubic) / after", format="png", type="numpy",
                                            elem_id="upscale-slider", interactive=False, max_height=640)
                    stats = gr.Markdown(elem_id="upscale-stats")
                    download = gr.File(label="Result (PNG, full size)", elem_id="upscale-download",
                                       interactive=False)
            if samples:
                gr.Examples([[s] for s in samples], inputs=[inp], label="Examples")
        model.change(model_changed, model, [info, outscale], queue=False,
                     api_name=False)  # pyright: ignore[reportArgumentType]  # hidden in Gradio 5 and 6
        run.click(upscale, [inp, model, outscale, tile, device], [slider, download, stats],
                  api_name="upscale", preprocess=False)

        with gr.Tab("Degradation lab"):
            gr.Markdown("Pick a photo and a degradation task: the photo (centre crop) is degraded into a "
                        "low-quality input, the model restores it, and PSNR against the crop says how well.")
            with gr.Row():
                with gr.Column(scale=1):
                    lab_inp = gr.Image(label="Photo (ground truth)", type="filepath", image_mode=None,
                                       sources=["upload", "clipboard"], elem_id="lab-input", height=280)
                    lab_model = gr.Dropdown(model_values, value=first, label="Model")
                    mode = gr.Radio([(lab_mod.MODE_LABELS[m], m) for m in lab_mod.MODES], value="random",
                                    label="Task")
                    seed = gr.Number(0, precision=0, label="Seed (task draw and noise)")
                    ref = gr.Textbox(label="Bank task: index or id", placeholder="0  or  3fa2c1d0")
                    group = gr.Dropdown(bank_groups, value=bank_groups[0] if bank_groups else None,
                                        label="Bank group", allow_custom_value=False,
                                        info=None if bank_groups else "this bank has no groups: upload a grouped "
                                        "bank (restoration tasks group) under 'Bank, crop and device'")
                    with gr.Accordion("Bank, crop and device", open=False):
                        bank_file = gr.File(label="Task bank (JSON, optional)", file_types=[".json"])
                        bank_note = gr.Markdown(f"default bank: {banks.label}")
                        crop = gr.Slider(64, 1024, value=256, step=32, label="Crop size (px)")
                        lab_device = gr.Dropdown(devices, value="auto", label="Device")
                    lab_run = gr.Button("Degrade and restore", variant="primary", elem_id="lab-run")
                with gr.Column(scale=2):
                    with gr.Row():
                        lq_out = gr.Image(label="Degraded input (LQ)", format="png", elem_id="lab-lq",
                                          interactive=False)
                        restored_out = gr.Image(label="Restored", format="png", elem_id="lab-restored",
                                                interactive=False)
                        gt_out = gr.Image(label="Ground truth (crop)", format="png", elem_id="lab-gt",
                                          interactive=False)
                    psnr_out = gr.Number(label="PSNR of the restoration (dB)", interactive=False)
                    lab_stats = gr.Markdown(elem_id="lab-stats")
            if samples:
                gr.Examples([[s] for s in samples], inputs=[lab_inp], label="Photos")
        bank_file.change(bank_changed, bank_file, [group, bank_note], preprocess=False,
                         api_name=False)  # pyright: ignore[reportArgumentType]  # hidden in Gradio 5 and 6
        lab_run.click(run_lab, [lab_inp, lab_model, lab_device, mode, seed, ref, group, crop, bank_file],
                      [lq_out, restored_out, gt_out, psnr_out, lab_stats], api_name="degradation_lab",
                      preprocess=False)
    return demo
