"""RealSRGANMTLModel: the GAN stage (Real-ESRGAN recipe) on top of the task-aware L1 model.

Generator loss per sample = L1 + perceptual (VGG19 by default; VGG16 or LPIPS-VGG) + GAN loss from a U-Net SN
discriminator; the per-sample total goes through the same per-task/per-group reduction and balancer as the L1
stage (one :class:`restoration.training.TrainStep`, with :class:`GeneratorLoss` as its per-sample loss).
USM-sharpened targets are options (``l1_gt_usm``, ``percep_gt_usm``, ``gan_gt_usm``; Real-ESRGAN: True, True,
False) and the degradation starts from the sharpened GT, as in Real-ESRGAN. The discriminator step stays here: a
plain single-objective network, its gradients averaged over ranks directly. ``train.distill_opt`` adds cached
teacher samples and an L1 term to the teacher's output (restoration.losses.distill).
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import torch
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from restoration import dist as rdist
from restoration.errors import OptionError
from restoration.losses.perceptual_loss import PerceptualLossPerSample
from restoration.models.nets import build_net
from restoration.models.realsr_mtl_model import RealSRMTLModel
from restoration.training import Batch, PerSampleLoss
from restoration.training.losses import gan_loss_per_sample, pixel_loss_per_sample
from restoration.training.optim import build_optimizer

if TYPE_CHECKING:
    from restoration.losses.distill import DistillTarget


class GeneratorLoss:
    """Per-sample generator loss of the GAN stage: pixel (optional) + perceptual (optional) + adversarial, each
    against ``gt`` or ``gt_usm`` as the options say; the discriminator is read, not trained, here. With ``distill``
    set (a :class:`restoration.losses.distill.DistillTarget`), batches that carry ``teacher``/``from_cache`` in
    ``extra`` add the distillation term."""

    distill: DistillTarget | None = None

    def __init__(self, pixel_opt: dict | None, pixel_target: str, perceptual: torch.nn.Module | None,
                 perceptual_target: str, net_d: torch.nn.Module, gan_type: str, gan_weight: float) -> None:
        self.pixel_opt, self.pixel_target = pixel_opt, pixel_target
        self.perceptual, self.perceptual_target = perceptual, perceptual_target
        self.net_d, self.gan_type, self.gan_weight = net_d, gan_type, float(gan_weight)

    def __call__(self, output: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, OrderedDict]:
        parts = OrderedDict()
        total = output.new_zeros(output.shape[0])
        if self.pixel_opt:
            l_pix = pixel_loss_per_sample(output, batch.target(self.pixel_target), self.pixel_opt)
            total, parts["l_g_pix"] = total + l_pix, l_pix.detach()
        if self.perceptual is not None:
            l_percep = self.perceptual(output, batch.target(self.perceptual_target))
            total, parts["l_g_percep"] = total + l_percep, l_percep.detach()
        l_gan = gan_loss_per_sample(self.net_d(output), True, self.gan_type) * self.gan_weight
        total, parts["l_g_gan"] = total + l_gan, l_gan.detach()
        if self.distill is not None and "teacher" in batch.extra:
            l_distill = self.distill.loss(output, batch.extra["teacher"], batch.extra["from_cache"])
            total, parts["l_distill"] = total + l_distill, l_distill.detach()
        return total, parts


@MODEL_REGISTRY.register()  # pyright: ignore[reportOptionalCall]  # basicsr's Registry.register() is untyped
class RealSRGANMTLModel(RealSRMTLModel):
    """Task-aware real-SR model, GAN stage. See the module docstring."""

    def _needs_usm(self) -> bool:
        return True

    def init_training_settings(self) -> None:
        opt, train_opt = self.opt, self.opt["train"]
        if not opt.get("network_d"):
            raise ValueError("network_d: missing (the GAN stage needs a discriminator)")
        self.net_d = self.model_to_device(build_net(opt["network_d"]))
        paths = opt.get("path") or {}
        if paths.get("pretrain_network_d"):
            self.load_network(self.net_d, paths["pretrain_network_d"], paths.get("strict_load_d", True),
                              paths.get("param_key_d", "params"))
        self.net_d.train()
        self.l1_gt_usm = bool(opt.get("l1_gt_usm", True))
        self.percep_gt_usm = bool(opt.get("percep_gt_usm", True))
        self.gan_gt_usm = bool(opt.get("gan_gt_usm", False))
        self.cri_pix_opt = copy.deepcopy(train_opt.get("pixel_opt"))
        self.cri_perceptual = None
        if train_opt.get("perceptual_opt"):
            self.cri_perceptual = PerceptualLossPerSample(train_opt["perceptual_opt"]).to(self.device)
        gan_opt: dict[str, Any] = dict(train_opt.get("gan_opt")
                                       or {"type": "GANLoss", "gan_type": "vanilla", "loss_weight": 0.1})
        self.gan_type = gan_opt.get("gan_type", "vanilla")
        self.gan_weight = float(gan_opt.get("loss_weight", 0.1))
        self.net_d_iters = int(train_opt.get("net_d_iters", 1))
        self.net_d_init_iters = int(train_opt.get("net_d_init_iters", 0))
        super().init_training_settings()
        from restoration.metrics.lpips_val import METRIC_TYPES, check_available

        if any(m.get("type") in METRIC_TYPES for m in ((opt.get("val") or {}).get("metrics") or {}).values()):
            check_available()  # now, not at the first validation
        self.distill, self.teacher = None, None
        if train_opt.get("distill_opt"):  # cached teacher outputs (restoration.losses.distill)
            from restoration.data.distill_cache import CacheSpec, load_cache
            from restoration.losses.distill import DistillTarget

            if self.balancer.needs_after_step:
                raise OptionError("train.distill_opt: not available with a balancer that re-evaluates samples "
                                  "after the step (famo)")
            cache = load_cache(CacheSpec.from_options(opt, opt.get("root_path")))
            self.distill = DistillTarget(opt, cache, self.device, self.usm)
            loss = self.train_step.loss if self.train_step is not None else None
            assert isinstance(loss, GeneratorLoss), "build_loss made the train step's loss"
            loss.distill = self.distill
            get_root_logger().info(f"Distillation: {len(cache)} cached teacher samples from {cache.path}")

    @torch.no_grad()
    def feed_data(self, data: dict) -> None:
        super().feed_data(data)
        self.teacher = None
        distill = getattr(self, "distill", None)
        if distill is not None and "lq" not in data:
            batch = distill.append({"lq": self.lq, "gt": self.gt, "gt_usm": self.gt_usm, "task": self.task,
                                         "group": self.group}, int(data["position"][0]))
            self.lq, self.gt, self.gt_usm = batch["lq"], batch["gt"], batch["gt_usm"]
            self.task, self.group = batch["task"], batch["group"]
            self.teacher, self.from_cache = batch["teacher"], batch["from_cache"]

    def training_batch(self) -> Batch:
        batch = super().training_batch()
        if self.teacher is not None:
            batch.extra.update(teacher=self.teacher, from_cache=self.from_cache)
        return batch

    def setup_optimizers(self) -> None:
        super().setup_optimizers()
        params = [p for p in self.net_d.parameters() if p.requires_grad]
        self.optimizer_d = build_optimizer(self.opt["train"]["optim_d"], params, "train.optim_d")
        self.optimizers.append(self.optimizer_d)

    def build_loss(self) -> PerSampleLoss:
        usm = {True: "gt_usm", False: "gt"}
        return GeneratorLoss(self.cri_pix_opt, usm[self.l1_gt_usm], self.cri_perceptual, usm[self.percep_gt_usm],
                             self.net_d, self.gan_type, self.gan_weight)

    def optimize_parameters(self, current_iter: int) -> None:
        for p in self.net_d.parameters():
            p.requires_grad_(False)
        if current_iter % self.net_d_iters == 0 and current_iter > self.net_d_init_iters:
            super().optimize_parameters(current_iter)
        else:
            with torch.no_grad():
                self.output = self.net_g(self.lq)
            self.log_dict = OrderedDict()
            self.history.append((current_iter, float("nan")))  # the generator did not train this iteration
        for p in self.net_d.parameters():
            p.requires_grad_(True)
        self.optimizer_d.zero_grad(set_to_none=False)
        real = self.gt_usm if self.gan_gt_usm else self.gt
        out_real = self.net_d(real)
        l_d_real = gan_loss_per_sample(out_real, True, self.gan_type, is_disc=True).mean()
        l_d_real.backward()
        out_fake = self.net_d(self.output.detach())
        l_d_fake = gan_loss_per_sample(out_fake, False, self.gan_type, is_disc=True).mean()
        l_d_fake.backward()
        rdist.all_reduce_mean_grads(list(self.net_d.parameters()))
        self.optimizer_d.step()
        logs = rdist.all_reduce_mean(torch.stack([l_d_real.detach(), l_d_fake.detach(),
                                                  out_real.detach().mean(), out_fake.detach().mean()]))
        for k, v in zip(("l_d_real", "l_d_fake", "out_d_real", "out_d_fake"), logs.tolist()):
            self.log_dict[k] = v

    def save(self, epoch: int, current_iter: int) -> None:
        if hasattr(self, "net_g_ema"):
            self.save_network([self.net_g, self.net_g_ema], "net_g", current_iter,
                              param_key=["params", "params_ema"])  # pyright: ignore[reportArgumentType]  # basicsr: str or list
        else:
            self.save_network(self.net_g, "net_g", current_iter)
        self.save_network(self.net_d, "net_d", current_iter)
        self.save_training_state(epoch, current_iter)
        get_root_logger().debug(f"saved G and D at {current_iter}")
