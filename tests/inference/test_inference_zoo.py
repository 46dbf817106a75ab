import json

import pytest

from restoration.errors import RestorationError
from restoration.inference import Upscaler, list_models
from restoration.inference.files import sha256_file
from restoration.inference.zoo import add_to_manifest, models_dir, resolve_model


def test_list_models_default_first(models_dir):
    models = list_models(models_dir)
    assert [m.name for m in models] == ["tiny-x4", "tiny-x2"]
    assert models[0].default and not models[1].default
    assert models[0].path.is_file() and models[0].scale == 4 and models[1].arch == "MSRResNet"


def test_default_and_named_models(models_dir):
    assert Upscaler(models_dir=models_dir).name == "tiny-x4"
    up = Upscaler("tiny-x2", models_dir=models_dir)
    assert up.scale == 2 and up.descriptor.arch == "MSRResNet"


def test_env_var_overrides_models_dir(models_dir, monkeypatch):
    monkeypatch.setenv("RESTORATION_MODELS_DIR", str(models_dir))
    assert Upscaler().name == "tiny-x4"


def test_unknown_name_lists_known(models_dir):
    with pytest.raises(RestorationError, match=r"unknown model name 'nope'; known models: tiny-x4, tiny-x2"):
        Upscaler("nope", models_dir=models_dir)


def test_no_default_model_installed(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": 1, "default": None, "models": {}}))
    with pytest.raises(RestorationError, match="no default model is installed"):
        Upscaler(models_dir=tmp_path)
    with pytest.raises(RestorationError, match="no default model is installed"):
        Upscaler(models_dir=tmp_path / "missing-folder")


def test_checksum_mismatch_refused(models_dir, tmp_path):
    data = json.loads((models_dir / "manifest.json").read_text())
    data["models"]["tiny-x4"]["sha256"] = "0" * 64
    data["models"]["tiny-x4"]["file"] = str(models_dir / "tiny-x4.safetensors")
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(RestorationError, match="sha256"):
        Upscaler(models_dir=tmp_path)


def test_missing_weight_file_and_bad_manifest(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"default": "a", "models": {"a": {"file": "a.safetensors", "arch": "MSRResNet", "scale": 2}}}))
    with pytest.raises(RestorationError, match="weight file .* is missing"):
        Upscaler(models_dir=tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(RestorationError, match="cannot read model manifest"):
        list_models(tmp_path)


def test_add_to_manifest(models_dir, tmp_path):
    import shutil

    shutil.copy(models_dir / "tiny-x2.safetensors", tmp_path / "b.safetensors")
    info = add_to_manifest("b", tmp_path / "b.safetensors", trained_on="test", make_default=True,
                           models_dir_=tmp_path)
    assert info.default and info.scale == 2 and info.sha256 == sha256_file(tmp_path / "b.safetensors")
    assert resolve_model(None, tmp_path)[1].name == "b"
    with pytest.raises(RestorationError, match="not inside the models folder"):
        add_to_manifest("c", models_dir / "tiny-x2.safetensors", models_dir_=tmp_path)


def test_shipped_manifest_is_consistent():
    """Every model the repository ships: file present, checksum right, loads as declared."""
    root = models_dir()
    for m in list_models(root):
        assert m.path.is_file(), m.name
        assert sha256_file(m.path) == m.sha256, m.name
        up = Upscaler(m.name, device="cpu")
        assert (up.descriptor.arch, up.scale) == (m.arch, m.scale)
    data = json.loads((root / "manifest.json").read_text())
    assert data["default"] is None or data["default"] in data["models"]
