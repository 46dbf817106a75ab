import pytest

from restoration.errors import RestorationError
from restoration.evaluation.heaviest import heaviest_entries, heaviest_markdown


def _result(psnrs: dict[str, float]) -> dict:
    per_image = [{"lq": f"LQ/{g}/{n}.png", "hr": f"HR/{n}.png", "group": g, "task_id": n,
                  "net": {"psnr_y": p + 1, "lpips_alex": 0.5}, "bicubic": {"psnr_y": p, "lpips_alex": 0.7}}
                 for (g, n), p in ((k.split("/"), v) for k, v in psnrs.items())]
    return {"methods": ["net", "bicubic"], "metrics": ["psnr_y", "lpips_alex"], "per_image": per_image}


def test_ranks_degraded_inputs_by_bicubic_psnr_and_skips_the_clean_group():
    result = _result({"bank/a": 25.0, "bank/b": 21.0, "clean_bicubic/c": 19.0, "bank/d": 23.0})
    assert [e["task_id"] for e in heaviest_entries(result, 2)] == ["b", "d"]
    text = heaviest_markdown(result, heaviest_entries(result, 3))
    assert "| **mean** | | 24.00 | 0.500 | 23.00 | 0.700 |" in text


def test_needs_the_bicubic_rows():
    result = _result({"bank/a": 25.0})
    result["methods"] = ["net"]
    with pytest.raises(RestorationError, match="bicubic"):
        heaviest_entries(result, 1)
