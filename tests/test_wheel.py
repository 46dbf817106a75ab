"""A wheel (what ``pip install .`` installs) carries the default model: no source checkout needed to upscale."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import json, sys
import numpy as np
import restoration
from restoration.inference.zoo import default_model, models_dir
from restoration import Upscaler
out = Upscaler().upscale(np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8))
print(json.dumps({"package": restoration.__file__, "models_dir": str(models_dir()),
                  "default": default_model().name, "shape": list(out.shape), "dtype": str(out.dtype)}))
"""


def _source_files() -> list[str]:
    """The files of the checkout a user would build from: tracked plus new ones git does not ignore."""
    proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                          capture_output=True)
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    return [f for f in proc.stdout.decode().split("\0") if f and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def wheel_install(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the checkout (no build/ or egg-info left in the repository), then install
    it with --no-deps into a plain folder."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    for rel in _source_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(src), "-w", str(base / "dist")],
                   check=True, cwd=base, capture_output=True)
    wheels = list((base / "dist").glob("restoration-*.whl"))
    assert len(wheels) == 1, wheels
    target = base / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheels[0])],
                   check=True, cwd=base, capture_output=True)
    return target


def test_wheel_ships_the_default_model_and_manifest(wheel_install):
    shipped = json.loads((ROOT / "pretrained" / "manifest.json").read_text())
    packaged = wheel_install / "restoration" / "pretrained"
    assert json.loads((packaged / "manifest.json").read_text()) == shipped
    for entry in shipped["models"].values():
        assert (packaged / entry["file"]).read_bytes() == (ROOT / "pretrained" / entry["file"]).read_bytes()
    assert not (wheel_install / "pretrained").exists()  # inside the package, not a top-level folder


def test_installed_wheel_upscales_with_its_default_model(wheel_install, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTORATION_")}
    env.update(PYTHONPATH=str(wheel_install), RESTORATION_USER_MODELS_DIR=str(tmp_path / "no-user-models"),
               OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHECK], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(got["package"]).is_relative_to(wheel_install)  # the wheel's copy, not the editable checkout
    assert Path(got["models_dir"]) == wheel_install / "restoration" / "pretrained"
    assert got["default"] == json.loads((ROOT / "pretrained" / "manifest.json").read_text())["default"]
    assert got["shape"] == [48, 40, 3] and got["dtype"] == "uint8"


def test_wheel_holds_no_repository_only_files(wheel_install):
    top = {p.name for p in wheel_install.iterdir()}
    assert {"restoration"} <= top and not {"tests", "experiments", "datasets", "options"} & top
    assert (wheel_install / "restoration" / "py.typed").is_file()
    record = next(wheel_install.glob("restoration-*.dist-info")) / "RECORD"
    assert "restoration/pretrained/manifest.json" in record.read_text()  # pip uninstall removes the model too

