import json

import pytest

from restoration.errors import RestorationError
from restoration.inference import Upscaler, list_models
from restoration.inference.files import sha256_file
from restoration.inference.zoo import add_to_manifest, models_dir, resolve_model


@pytest.fixture(autouse=True)
def _no_user_models(monkeypatch):
    """The user's own imported models stay out of these tests (tests/conftest.py already redirects XDG_CACHE_HOME)."""
    monkeypatch.delenv("RESTORATION_USER_MODELS_DIR", raising=False)


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


def _user_zoo(models_dir, tmp_path, names=("mine",), default=None):
    """A user folder holding copies of tiny-x2 under ``names``."""
    import shutil

    from restoration.inference.zoo import register_imported

    user = tmp_path / "user"
    user.mkdir()
    for name in names:
        shutil.copy(models_dir / "tiny-x2.safetensors", user / f"{name}.safetensors")
        register_imported(name, user / f"{name}.safetensors",
                          {"sha256": sha256_file(user / f"{name}.safetensors"), "arch": "MSRResNet", "scale": 2,
                           "source": "a test", "licence": "CC0"}, make_default=name == default, user_dir=user)
    return user


def test_imported_models_are_listed_after_shipped_ones(models_dir, tmp_path):
    user = _user_zoo(models_dir, tmp_path, ("mine", "tiny-x2"))
    models = list_models(models_dir, user)
    assert [(m.name, m.origin) for m in models] == [("tiny-x4", "shipped"), ("tiny-x2", "shipped"),
                                                     ("mine", "imported")]  # a shipped name is never shadowed
    assert models[2].licence == "CC0" and models[2].source == "a test" and models[0].default


def test_user_default_overrides_the_shipped_one(models_dir, tmp_path, monkeypatch):
    from restoration.inference.zoo import set_user_default

    user = _user_zoo(models_dir, tmp_path, default="mine")
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(user))
    assert Upscaler(models_dir=models_dir).name == "mine"
    assert set_user_default("tiny-x2", models_dir).name == "tiny-x2"  # a shipped model can be the user's default
    assert [m.name for m in list_models(models_dir) if m.default] == ["tiny-x2"]
    assert set_user_default(None, models_dir) is None
    assert Upscaler(models_dir=models_dir).name == "tiny-x4"
    with pytest.raises(RestorationError, match="unknown model name 'nope'"):
        set_user_default("nope", models_dir)


def test_real_esrgan_names_resolve_to_imported_models(models_dir, tmp_path, monkeypatch):
    user = _user_zoo(models_dir, tmp_path, ("realesrgan-x4plus",))
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(user))
    assert resolve_model("RealESRGAN_x4plus", models_dir)[1].name == "realesrgan-x4plus"
    with pytest.raises(RestorationError, match=r"'realesr-animevideov3' \(Real-ESRGAN's name for "
                                               r"'realesr-animevideov3-x4'\) is not installed"):
        resolve_model("realesr-animevideov3", models_dir)


def test_imported_file_checked_like_shipped_ones(models_dir, tmp_path, monkeypatch):
    user = _user_zoo(models_dir, tmp_path)
    (user / "mine.safetensors").write_bytes((user / "mine.safetensors").read_bytes()[:-1] + b"x")
    with pytest.raises(RestorationError, match="corrupt or replaced file; import it again"):
        resolve_model("mine", models_dir, user_dir=user)


def test_user_models_dir_default_and_env(tmp_path, monkeypatch):
    from restoration.inference.zoo import user_models_dir

    monkeypatch.delenv("RESTORATION_USER_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_models_dir() == tmp_path / "xdg" / "restoration" / "models"
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(tmp_path / "u"))
    assert user_models_dir() == tmp_path / "u"


def test_models_dir_prefers_package_data_then_the_checkout(tmp_path, monkeypatch):
    """A wheel installs the shipped models as restoration/pretrained/; a checkout keeps them beside the package."""
    from pathlib import Path

    from restoration.inference import zoo

    monkeypatch.delenv("RESTORATION_MODELS_DIR", raising=False)
    assert models_dir() == Path(zoo.__file__).resolve().parents[2] / "pretrained"  # this checkout
    fake = tmp_path / "site" / "restoration" / "inference" / "zoo.py"
    monkeypatch.setattr(zoo, "__file__", str(fake))
    assert models_dir() == tmp_path / "site" / "pretrained"  # no package data: the checkout layout
    packaged = tmp_path / "site" / "restoration" / "pretrained"
    packaged.mkdir(parents=True)
    (packaged / "manifest.json").write_text("{}")
    assert models_dir() == packaged
    monkeypatch.setenv("RESTORATION_MODELS_DIR", str(tmp_path / "env"))
    assert models_dir() == tmp_path / "env" and models_dir(tmp_path / "arg") == tmp_path / "arg"
