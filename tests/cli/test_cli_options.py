"""``restoration options schema`` writes the JSON schema; ``restoration options check`` validates files."""
from __future__ import annotations

import json
from pathlib import Path

from restoration.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_schema_is_written_as_json(tmp_path, capsys):
    out = tmp_path / "train.schema.json"
    assert main(["options", "schema", "-o", str(out)]) == 0
    schema = json.loads(out.read_text())
    assert "train" in schema["properties"] and "datasets" in schema["required"]
    assert main(["options", "schema", "tasks"]) == 0
    assert "bank" in json.loads(capsys.readouterr().out)["properties"]


def test_check_names_the_file_and_the_key(tmp_path, capsys):
    good = ROOT / "options" / "train" / "cpu_tiny_groups.yml"
    bad = tmp_path / "bad.yml"
    bad.write_text(f"_base_: {good}\ntrain:\n  optim_g: {{lr: 2e-4}}\n")
    assert main(["options", "check", str(good)]) == 0
    assert "cpu_tiny_groups.yml: ok (train)" in capsys.readouterr().out
    assert main(["options", "check", str(good), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"restoration options check: error: {bad}: train.optim_g.lr: expected a number, got '2e-4' "
                   "(PyYAML reads 2e-4 as a string: write !!float 2e-4 or 0.0002)")
