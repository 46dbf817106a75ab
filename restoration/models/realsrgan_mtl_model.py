"""RealSRGANMTLModel: the GAN stage (Real-ESRGAN recipe) on top of the task-aware L1 model.

Generator loss per sample = L1 + perceptual (VGG19 by default; VGG16 or LPIPS-VGG) + GAN loss from a U-Net SN
discriminator; the per-sample total goes through the same per-task/per-group reduction and balancer as the L1
stage. USM-sharpened targets are options (``l1_gt_usm``, ``percep_gt_usm``, ``gan_gt_usm``; Real-ESRGAN: True,
True, False) and the degradation starts from the sharpened GT, as in Real-ESRGAN. The discriminator is a plain
single-objective network: its gradients are averaged over ranks directly.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from restoration import dist as rdist
from restoration.losses.perceptual_loss import PerceptualLossPerSample
from restoration.models.nets import build_net
from restoration.models.realsr_mtl_model import RealSRMTLModel
from restoration.models.training_state import gan_loss_per_sample, pixel_loss_per_sample


@MODEL_REGISTRY.register()
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
        gan_opt = dict(train_opt.get("gan_opt") or {"type": "GANLoss", "gan_type": "vanilla", "loss_weight": 0.1})
        self.gan_type = gan_opt.get("gan_type", "vanilla")
        self.gan_weight = float(gan_opt.get("loss_weight", 0.1))
        self.net_d_iters = int(train_opt.get("net_d_iters", 1))
        self.net_d_init_iters = int(train_opt.get("net_d_init_iters", 0))
        super().init_training_settings()

    def setup_optimizers(self) -> None:
        super().setup_optimizers()
        params = [p for p in self.net_d.parameters() if p.requires_grad]
        self.optimizer_d = self._make_optimizer(self.opt["train"]["optim_d"], params)
        self.optimizers.append(self.optimizer_d)

    def per_sample_losses(self, current_iter: int) -> tuple[torch.Tensor, OrderedDict]:
        parts = OrderedDict()
        total = self.output.new_zeros(self.output.shape[0])
        if self.cri_pix_opt:
            l_pix = pixel_loss_per_sample(self.output, self.gt_usm if self.l1_gt_usm else self.gt, self.cri_pix_opt)
            total, parts["l_g_pix"] = total + l_pix, l_pix.detach()
        if self.cri_perceptual is not None:
            l_percep = self.cri_perceptual(self.output, self.gt_usm if self.percep_gt_usm else self.gt)
            total, parts["l_g_percep"] = total + l_percep, l_percep.detach()
        l_gan = gan_loss_per_sample(self.net_d(self.output), True, self.gan_type) * self.gan_weight
        total, parts["l_g_gan"] = total + l_gan, l_gan.detach()
        return total, parts

    def optimize_parameters(self, current_iter: int) -> None:
        for p in self.net_d.parameters():
            p.requires_grad_(False)
        if current_iter % self.net_d_iters == 0 and current_iter > self.net_d_init_iters:
            super().optimize_parameters(current_iter)
        else:
            with torch.no_grad():
                self.output = self.net_g(self.lq)
            self.log_dict = OrderedDict()
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
            self.save_network([self.net_g, self.net_g_ema], "net_g", current_iter, param_key=["params", "params_ema"])
        else:
            self.save_network(self.net_g, "net_g", current_iter)
        self.save_network(self.net_d, "net_d", current_iter)
        self.save_training_state(epoch, current_iter)
        get_root_logger().debug(f"saved G and D at {current_iter}")
