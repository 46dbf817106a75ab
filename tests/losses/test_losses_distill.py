"""DistillTarget: cached samples appended to a batch, and which target they carry."""
import pytest
import torch

from restoration.errors import OptionError
from restoration.losses.distill import DistillTarget


class _Cache:
    """Cached samples whose GT, teacher output and LQ are distinct constants, labelled bank task 3 of group 1."""

    def draw(self, rng, k, device):
        return {"lq": torch.full((k, 3, 4, 4), 0.1), "gt": torch.full((k, 3, 16, 16), 0.2),
                "teacher": torch.full((k, 3, 16, 16), 0.7), "task": torch.full((k,), 3), "group": torch.ones(k).long()}


def _batch():
    return {"lq": torch.zeros(2, 3, 4, 4), "gt": torch.zeros(2, 3, 16, 16), "gt_usm": torch.zeros(2, 3, 16, 16),
            "task": torch.zeros(2, dtype=torch.long), "group": torch.zeros(2, dtype=torch.long)}


def _target(targets):
    opt = {"train": {"distill_opt": {"teacher": "t", "num_samples": 4, "per_batch": 2, "targets": targets}}}
    return DistillTarget(opt, _Cache(), torch.device("cpu"), usm=lambda x: x + 0.05)


def test_cached_samples_keep_their_sharpened_gt_by_default():
    out = _target("gt").append(_batch(), 0)
    assert torch.allclose(out["gt_usm"][2:], torch.full((2, 3, 16, 16), 0.25))
    assert out["from_cache"].tolist() == [False, False, True, True] and out["task"].tolist() == [0, 0, 3, 3]
    assert out["group"].tolist() == [0, 0, 1, 1]  # the labels the cache stored


def test_teacher_targets_replace_the_sharpened_target_but_not_the_gt():
    out = _target("teacher").append(_batch(), 0)
    assert torch.equal(out["gt_usm"][2:], out["teacher"][2:])  # pixel and perceptual losses aim at the teacher
    assert torch.equal(out["gt"][2:], torch.full((2, 3, 16, 16), 0.2))  # the discriminator's real images stay GT
    assert torch.equal(out["gt_usm"][:2], torch.zeros(2, 3, 16, 16))


def test_unknown_targets_value_is_one_option_error():
    with pytest.raises(OptionError, match="targets"):
        _target("student")
