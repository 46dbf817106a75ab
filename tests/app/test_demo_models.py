"""The demo's model picker offers every installed model: shipped ones and those imported into the user folder."""
from __future__ import annotations

import shutil

from restoration.app.service import DemoConfig, ModelCache, available_models


def test_imported_models_are_offered_and_marked(tiny_zoo, tmp_path, monkeypatch):
    from restoration.app.ui import _model_label, _model_markdown
    from restoration.inference.files import sha256_file
    from restoration.inference.zoo import register_imported

    user = tmp_path / "user"
    user.mkdir()
    shutil.copy(tiny_zoo / "tiny.safetensors", user / "mine.safetensors")
    register_imported("mine", user / "mine.safetensors",
                      {"sha256": sha256_file(user / "mine.safetensors"), "arch": "SRVGGNetCompact", "scale": 4,
                       "description": "an imported copy", "licence": "BSD-3-Clause"}, user_dir=user)
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(user))
    choices = available_models(DemoConfig(models_dir=str(tiny_zoo)))
    assert [(c.name, c.origin) for c in choices] == [("tiny", "shipped"), ("mine", "imported")]
    assert _model_label(choices[1]) == "mine (×4) · imported" and _model_label(choices[0]) == "tiny (×4)"
    text = _model_markdown(choices[1])
    assert "imported" in text and "licence: BSD-3-Clause" in text
    up = ModelCache(choices, str(tiny_zoo)).get("mine", "cpu")
    assert up.name == "mine" and up.scale == 4
