"""RealSRMTLModel: Real-ESRNet-style training where every degradation is a task.

``feed_data`` receives GT patches with task assignments and synthesises the LQ on the training device with
``restoration.degradations.degrade`` (optionally through Real-ESRGAN's training-pair queue). The pixel loss is
kept per sample, reduced to per-key sums (keys = groups or bank tasks) and handed to the balancer, which leaves
the final, globally synchronised gradient in ``.grad``. That optimiser step is :class:`restoration.training.TrainStep`,
the one every training in the project uses: ``optimize_parameters`` hands it the batch and logs what it reports.
Per-group (and, for small banks, per-task) losses are logged. Where BasicSR's SRModel does not fit (DDP wrapping,
``.cuda()`` device choice, unsafe ``torch.load``, ``pop`` on option dicts) this class overrides the one method
concerned.
"""
from __future__ import annotations

import copy
import random
from collections import OrderedDict

import numpy as np
import torch
from basicsr.models.base_model import BaseModel
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from restoration import dist as rdist
from restoration.errors import OptionError
from restoration.models.nets import build_net
from restoration.models.pair_queue import PairQueue
from restoration.models.training_state import load_checkpoint
from restoration.training import Batch, Ema, PerSampleLoss, PixelLoss, TrainStep
from restoration.training.optim import OPTIMIZERS, build_optimizer, build_scheduler

__all__ = ["OPTIMIZERS", "RealSRMTLModel", "pick_device"]


def pick_device(opt: dict) -> torch.device:
    """``num_gpu``: 0 = CPU, ``auto`` (default) = CUDA when present, N > 0 = CUDA (error when absent)."""
    num_gpu = opt.get("num_gpu", "auto")
    has_cuda = torch.cuda.is_available()
    if num_gpu == 0 or (num_gpu == "auto" and not has_cuda):
        return torch.device("cpu")
    if not has_cuda:
        raise OptionError(f"num_gpu: {num_gpu} but no CUDA device is available (use num_gpu: auto or 0)")
    return torch.device("cuda", torch.cuda.current_device())


@MODEL_REGISTRY.register()  # pyright: ignore[reportOptionalCall]  # basicsr's Registry.register() is untyped
class RealSRMTLModel(SRModel):
    """Task-aware real-SR model (L1 stage). See the module docstring."""

    def __init__(self, opt: dict) -> None:
        BaseModel.__init__(self, opt)
        self.device = pick_device(opt)
        self.scale = int(opt["scale"])
        seed = int(opt.get("manual_seed") or 0)
        self.seed = seed
        self.net_g = self.model_to_device(build_net(opt["network_g"]))
        self.print_network(self.net_g)
        paths = opt.get("path") or {}
        if paths.get("pretrain_network_g"):
            self.load_network(self.net_g, paths["pretrain_network_g"], paths.get("strict_load_g", True),
                              paths.get("param_key_g", "params"), bool(paths.get("deepen_g", False)))
        from restoration.degradations import DegradationSpace

        self.space = DegradationSpace.from_opt(copy.deepcopy(opt.get("degradation")))
        self.bank = None
        self.group_names = ["G0"]
        self.task_sampler = None
        queue_size = int(opt.get("queue_size", 0) or 0)
        self.queue = PairQueue(queue_size, seed + 7919 * (opt.get("rank", 0) + 1)) if queue_size else None
        self.usm = None
        self.train_step: TrainStep | None = None
        self.history: list[tuple[int, float]] = []  # (iteration, l_g_total) of every optimize_parameters call
        self.bicubic_results: dict[str, dict[str, float]] = {}  # validation set -> metrics of bicubic upsampling
        if self.is_train:
            self.init_training_settings()

    # ------------------------------------------------------------------ set-up (BasicSR hooks, non-mutating)
    def model_to_device(self, net: torch.nn.Module) -> torch.nn.Module:
        """Device only, no DDP: the balancer synchronises gradients; ranks start from rank 0's weights."""
        net = net.to(self.device)
        rdist.broadcast_module(net)
        return net

    def load_network(self, net, load_path, strict=True, param_key="params", deepen=False):
        load_checkpoint(self.get_bare_model(net), load_path, strict, param_key, deepen)

    def attach_training_data(self, dataset) -> None:
        """Take the task bank and sampler of the training dataset (keys for per-task/per-group losses)."""
        self.task_sampler = dataset.sampler
        self.bank = dataset.bank
        self.group_names = dataset.sampler.group_names()
        self._setup_keys()

    def _setup_keys(self) -> None:
        from restoration.balancers.registry import num_keys_for

        n_tasks = len(self.bank) if self.bank is not None else 0
        n_groups = len(self.group_names) - 1  # the sampler's groups (a groupless bank in mode groups is one)
        self.num_bank_tasks = n_tasks
        self.num_keys = num_keys_for(self.balancer.over, n_tasks, n_groups)
        self.num_groups = 1 + n_groups
        if self.train_step is not None:
            self.train_step.num_keys = self.num_keys

    def init_training_settings(self) -> None:
        from restoration.balancers.registry import build_balancer

        self.net_g.train()
        train_opt = self.opt["train"]
        self.ema_decay = float(train_opt.get("ema_decay", 0) or 0)
        ema = None
        if self.ema_decay > 0:
            get_root_logger().info(f"Use Exponential Moving Average with decay: {self.ema_decay}")
            self.net_g_ema = build_net(self.opt["network_g"]).to(self.device)
            ema = Ema(self.net_g, self.net_g_ema, self.ema_decay)
            load_path = (self.opt.get("path") or {}).get("pretrain_network_g")
            if load_path:
                self.load_network(self.net_g_ema, load_path, self.opt["path"].get("strict_load_g", True), "params_ema",
                                  bool(self.opt["path"].get("deepen_g", False)))
            else:
                ema.update(0)  # a copy
            self.net_g_ema.eval()
        self.pixel_opt = copy.deepcopy(train_opt.get("pixel_opt") or {"type": "L1Loss", "loss_weight": 1.0})
        self.balancer = build_balancer(copy.deepcopy(train_opt.get("balancing")))
        self.gt_usm_flag = bool(self.opt.get("gt_usm", False))
        if self.gt_usm_flag or self._needs_usm():
            from basicsr.utils.img_process_util import USMSharp

            self.usm = USMSharp(**(self.opt.get("usm") or {})).to(self.device) if self.opt.get("usm") else \
                USMSharp().to(self.device)
        self.bank, self.group_names, self.task_sampler = None, ["G0"], None
        self._setup_keys()
        self.task_stats = torch.zeros(2, 1, dtype=torch.float64)
        self.setup_optimizers()
        self.setup_schedulers()  # BasicSR's, stepped by update_learning_rate (warm-up, restarts), not by TrainStep
        self.train_step = TrainStep(self.net_g, self.optimizer_g, self.build_loss(), self.balancer, self.num_keys, ema)

    def _needs_usm(self) -> bool:
        return False

    def build_loss(self) -> PerSampleLoss:
        """The generator's per-sample loss (the GAN stage adds perceptual and adversarial terms)."""
        return PixelLoss(self.pixel_opt, target="gt_usm" if self.gt_usm_flag else "gt", name="l_pix")

    def setup_optimizers(self) -> None:
        params = [p for p in self.net_g.parameters() if p.requires_grad]
        self.optimizer_g = build_optimizer(self.opt["train"]["optim_g"], params, "train.optim_g")
        self.optimizers.append(self.optimizer_g)

    def setup_schedulers(self) -> None:
        sched = self.opt["train"].get("scheduler") or {"type": "MultiStepLR", "milestones": [10 ** 9]}
        for optimizer in self.optimizers:
            self.schedulers.append(build_scheduler(optimizer, sched))

    # ------------------------------------------------------------------ data
    def _tasks_for(self, data: dict) -> list:
        """One DegradationTask per sample: bank tasks by index, fresh G0 tasks from each sample's own seed."""
        from restoration.data.samplers import task_of

        return [task_of(t, s, self.bank, self.space) for t, s in zip(data["task"].tolist(), data["task_seed"].tolist())]

    @torch.no_grad()
    def feed_data(self, data: dict) -> None:
        """Validation pairs pass through; training GT batches get their LQ synthesised here, on the device."""
        if "lq" in data:
            self.lq = data["lq"].to(self.device)
            if "gt" in data:
                self.gt = data["gt"].to(self.device)
            return
        from restoration.degradations import degrade

        gt = data["gt"].to(self.device, non_blocking=True)
        src = self.usm(gt) if self.usm is not None else gt
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(np.random.default_rng([self.seed, int(data["position"][0])]).integers(2 ** 62)))
        lq = degrade(src, self._tasks_for(data), generator=gen, scale=self.scale)
        batch = {"lq": lq, "gt": gt, "gt_usm": src if self.usm is not None else gt,
                 "task": data["task"].to(self.device).long(), "group": data["group"].to(self.device).long()}
        if self.queue is not None:
            batch = self.queue(batch)
        self.lq = batch["lq"].contiguous()
        self.gt, self.gt_usm = batch["gt"], batch["gt_usm"]
        self.task, self.group = batch["task"], batch["group"]

    # ------------------------------------------------------------------ optimisation
    def _keys(self) -> torch.Tensor:
        from restoration.balancers.registry import batch_keys

        return batch_keys(self.task, self.group, self.balancer.over, self.num_bank_tasks)

    def training_batch(self) -> Batch:
        """The batch ``feed_data`` synthesised, with its balancing keys."""
        return Batch(self.lq, self.gt, self._keys(), self.gt_usm)

    def optimize_parameters(self, current_iter: int) -> None:
        """One :class:`TrainStep` on the batch ``feed_data`` made, then the log: global means of every loss
        component, per group and per task."""
        from restoration.balancers.registry import global_stats

        assert self.train_step is not None, "init_training_settings builds the train step"
        result = self.train_step.step(self.training_batch())
        self.output = result.output
        per_sample, parts = result.per_sample, result.parts
        comp = torch.stack([v.sum() for v in parts.values()] + [per_sample.sum(),
                                                                 torch.tensor(float(per_sample.numel()),
                                                                              device=per_sample.device)])
        comp_sum, _ = global_stats(comp, torch.zeros_like(comp))
        n = float(comp_sum[-1])
        self.log_dict = OrderedDict((k, float(comp_sum[i]) / n) for i, k in enumerate(parts))
        self.log_dict["l_g_total"] = float(comp_sum[-2]) / n
        self._log_keys(per_sample, result.info)
        self.history.append((current_iter, self.log_dict["l_g_total"]))

    def _log_keys(self, per_sample: torch.Tensor, info: dict) -> None:
        from restoration.balancers.registry import global_stats, reduce_losses

        g_sum, g_cnt = global_stats(*reduce_losses(per_sample, self.group, self.num_groups))
        for g, name in enumerate(self.group_names):
            if g_cnt[g] > 0:
                self.log_dict[f"l_group/{name}"] = float(g_sum[g] / g_cnt[g])
        if self.balancer.over == "groups" and info.get("weights") is not None and len(self.group_names) > 1:
            for g, name in enumerate(self.group_names):
                self.log_dict[f"w_group/{name}"] = float(info["weights"][g])
        if self.bank is not None:  # running per-task statistics (saved with the training state)
            t_sum, t_cnt = global_stats(*reduce_losses(per_sample, torch.where(self.task < 0, len(self.bank),
                                                                               self.task), len(self.bank) + 1))
            if self.task_stats.shape[1] != len(self.bank) + 1:
                self.task_stats = torch.zeros(2, len(self.bank) + 1, dtype=torch.float64)
            self.task_stats += torch.stack([t_sum.double().cpu(), t_cnt.double().cpu()])
            limit = int((self.opt.get("logger") or {}).get("task_loss_limit", 16))
            if len(self.bank) <= limit:
                for t in range(len(self.bank)):
                    if t_cnt[t] > 0:
                        self.log_dict[f"l_task/{t}"] = float(t_sum[t] / t_cnt[t])

    # ------------------------------------------------------------------ validation
    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        """BasicSR's validation, plus (once per dataset) the same metrics for bicubic upsampling of the LQ."""
        super().nondist_validation(dataloader, current_iter, tb_logger, save_img)
        name = dataloader.dataset.opt["name"]
        metrics = (self.opt.get("val") or {}).get("metrics")
        if name in self.bicubic_results or not metrics:
            return
        from basicsr.metrics import calculate_metric
        from basicsr.utils import tensor2img

        totals = {m: 0.0 for m in metrics}
        n = 0
        for data in dataloader:
            n += 1
            up = torch.nn.functional.interpolate(data["lq"], size=data["gt"].shape[-2:], mode="bicubic",
                                                 align_corners=False).clamp_(0, 1)
            pair = {"img": tensor2img([up[0]]), "img2": tensor2img([data["gt"][0]])}
            for m, mopt in metrics.items():
                totals[m] += calculate_metric(pair, copy.deepcopy(mopt))
        self.bicubic_results[name] = {m: v / n for m, v in totals.items()}
        get_root_logger().info(f"Bicubic baseline {name}: " + ", ".join(f"{m}: {v / n:.4f}" for m, v in totals.items()))

    # ------------------------------------------------------------------ state
    def extra_training_state(self) -> dict:
        state = {"balancer": self.balancer.state_dict(), "task_stats": self.task_stats,
                 "rng": {"torch": torch.get_rng_state(), "numpy": _np_state(), "python": _py_state()}}
        if torch.cuda.is_available():
            state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        if self.task_sampler is not None:
            state["task_sampler"] = self.task_sampler.state_dict()
        if self.queue is not None:
            state["queue"] = self.queue.state_dict()
        return state

    def load_extra_training_state(self, state: dict) -> None:
        self.balancer.load_state_dict(state["balancer"])
        self.task_stats = state.get("task_stats", self.task_stats)
        rng = state.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        if "numpy" in rng:
            st = rng["numpy"]
            np.random.set_state((st[0], np.asarray(st[1], dtype=np.uint32), *st[2:]))
        if "python" in rng:
            random.setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
        if self.task_sampler is not None and "task_sampler" in state:
            self.task_sampler.load_state_dict(state["task_sampler"])
        if self.queue is not None and state.get("queue") is not None:
            self.queue.load_state_dict(state["queue"], self.device)

    def save_network(self, net, net_label, current_iter, param_key="params") -> None:
        """Atomic (temp file + rename), and a failed write is one error instead of BasicSR's silent retries."""
        from restoration.models.training_state import save_network

        save_network(self, net, net_label, current_iter, param_key)

    def save_training_state(self, epoch: int, current_iter: int) -> None:
        from restoration.models.training_state import save_training_state

        if current_iter != -1 and self.opt.get("rank", 0) == 0:
            save_training_state(self, epoch, current_iter)

    def resume_training(self, resume_state: dict) -> None:
        super().resume_training(resume_state)
        self.load_extra_training_state(resume_state.get("extra") or {})


def _np_state() -> list:
    st = np.random.get_state(legacy=True)
    assert isinstance(st, tuple)  # the legacy MT19937 state tuple: numpy's global generator
    return [st[0], torch.from_numpy(st[1].astype(np.int64)), *st[2:]]


def _py_state() -> list:
    st = random.getstate()
    return [st[0], list(st[1]), st[2]]
