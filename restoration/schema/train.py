"""The schema of a training option file (``options/train/*.yml``): every section BasicSR and this package read.

Validation keeps the option dict as it is (BasicSR functions consume dicts): the models here only check it. Sections
whose extra keys belong to another object (network kwargs, loss kwargs, the io backend) allow them; those are checked
by building the object once (:mod:`restoration.options_checks`). A dataset of a BasicSR type is left to BasicSR;
``GTImageDataset`` and ``DegradedValDataset`` are checked here.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Mapping

from pydantic import ConfigDict, Field, WrapValidator, field_validator, model_validator

from restoration.degradations.space import DegradationSpace
from restoration.schema.base import Bool, Int, NonNeg, Num, Pos, Section, Str, at_key, either
from restoration.schema.distill import Distill

OUR_DATASETS = ("GTImageDataset", "DegradedValDataset")
TASK_MODES = ("random", "bank", "groups")  # restoration.data.samplers.MODES

Auto = Literal["auto"]
Paths = Annotated[Str | list[Str], either("a folder or a list of folders")]


class Open(Section):
    """A section whose extra keys are the arguments of an object built from it (checked when it is built)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="after")
    def _finite(self) -> "Open":
        for key, value in (self.model_extra or {}).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise at_key(key, f"must be a finite number, got {value}")
        return self


class IoBackend(Open):
    type: Str = "disk"


class TrainTasks(Section):
    mode: Literal[TASK_MODES] = "random"  # type: ignore[valid-type]
    bank: Str | Annotated[list[Str], Field(min_length=1)] | None = Field(
        default=None, description="a task bank file, or a list of them merged (a groupless one = one group)")
    group_weights: list[Annotated[Num, Field(ge=0)]] | dict[Str, Annotated[Num, Field(ge=0)]] | None = Field(
        default=None, description="one weight per group (G0 first), or {group: share}, the rest shared uniformly")
    seed: Int | None = None


class ValTasks(Section):
    bank: Str | None = None
    num_tasks: Pos = 4
    seed: Int = 0


class TrainData(Section):
    """``datasets.train`` of type GTImageDataset: GT images; LQ made on the fly by a degradation task."""

    name: Str = "train"
    type: Literal["GTImageDataset"] = "GTImageDataset"
    dataroot_gt: Paths
    meta_info: Str | None = None
    io_backend: IoBackend = IoBackend()
    filename_tmpl: Str = "{}"
    gt_size: Pos
    use_hflip: Bool = True
    use_rot: Bool = False
    offline_val_count: NonNeg = 2
    batch_size_per_gpu: Pos
    num_worker_per_gpu: NonNeg = 0
    dataset_enlarge_ratio: Pos = 1
    prefetch_mode: Str | None = None
    pin_memory: Bool = False
    persistent_workers: Bool = False
    tasks: TrainTasks = TrainTasks()
    phase: Str = "train"
    scale: Pos = 4
    cache_images: Bool | None = Field(default=None, description="default: true for the offline photos")


class ValData(Section):
    """``datasets.val*`` of type DegradedValDataset: fixed tasks applied to GT crops (or a folder of LQ images)."""

    name: Str = "val"
    type: Literal["DegradedValDataset"] = "DegradedValDataset"
    dataroot_gt: Paths
    dataroot_lq: Str | None = None
    meta_info: Str | None = None
    io_backend: IoBackend = IoBackend()
    filename_tmpl: Str = "{}"
    offline_val_count: NonNeg = 2
    crop_size: Pos | None = None
    tasks: ValTasks = ValTasks()
    phase: Str = "val"
    scale: Pos = 4


def _ours_only(value: Any, handler: Any) -> Any:
    """A dataset of a BasicSR type is BasicSR's to check; ours are checked against their model."""
    if isinstance(value, Mapping) and value.get("type") not in OUR_DATASETS:
        if not isinstance(value.get("type"), str):
            raise at_key("type", "missing (e.g. GTImageDataset)")
        return dict(value)
    return handler(value)


class Datasets(Section):
    """``train`` (required) and any number of validation sets, each under a key starting with ``val``."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Annotated[ValData, WrapValidator(_ours_only)]]  # type: ignore[assignment]
    train: Annotated[TrainData, WrapValidator(_ours_only)]

    @model_validator(mode="after")
    def _phases(self) -> "Datasets":
        for phase in self.model_extra or {}:
            if not phase.startswith("val"):
                raise at_key(phase, "phase must be 'train' or start with 'val'")
        return self


class Network(Open):
    type: Str


class Paths_(Section):
    pretrain_network_g: Str | None = None
    param_key_g: Str = "params"
    strict_load_g: Bool = True
    deepen_g: Bool = False
    resume_state: Str | None = None
    pretrain_network_d: Str | None = None
    param_key_d: Str = "params"
    strict_load_d: Bool = True
    experiments_root: Str | None = None
    models: Str | None = None
    training_states: Str | None = None
    log: Str | None = None
    visualization: Str | None = None
    root: Str | None = None


class Optimizer(Section):
    type: Str
    lr: Annotated[Num, Field(gt=0)]
    weight_decay: Annotated[Num, Field(ge=0)] = 0.0
    betas: tuple[Num, Num] | None = None
    momentum: Num | None = None
    eps: Num | None = None


class Scheduler(Section):
    type: Str
    milestones: list[Int] | None = None
    gamma: Annotated[Num, Field(gt=0)] | None = None
    periods: list[Int] | None = None
    restart_weights: list[Num] | None = None
    restarts: list[Int] | None = None
    eta_min: Num | None = None


class Loss(Open):
    type: Str
    loss_weight: Annotated[Num, Field(ge=0)] = 1.0
    reduction: Literal["mean", "sum", "none"] = "mean"


class Train(Section):
    ema_decay: Annotated[Num, Field(ge=0, lt=1)] = 0.0
    total_iter: Pos
    warmup_iter: Int = -1
    net_d_iters: Pos = 1
    net_d_init_iters: NonNeg = 0
    optim_g: Optimizer
    optim_d: Optimizer | None = None
    scheduler: Scheduler | None = None
    pixel_opt: Loss | None = None
    perceptual_opt: Loss | None = None
    gan_opt: Loss | None = None
    distill_opt: Distill | None = None
    balancing: dict[Str, Any] | None = Field(
        default=None,
        description="{type: NAME, over: groups|tasks, ...}: checked per type by restoration.balancers.registry")


class Metric(Section):
    type: Str
    crop_border: NonNeg = 0
    test_y_channel: Bool = False
    better: Literal["higher", "lower"] | None = None


class Val(Section):
    val_freq: Pos
    save_img: Bool = False
    suffix: Str | None = None
    pbar: Bool = False
    metrics: dict[Str, Metric] = {}


class Wandb(Section):
    project: Str | None = None
    resume_id: Str | None = None


class Logger(Section):
    print_freq: Pos | None = None
    save_checkpoint_freq: Pos | None = None
    use_tb_logger: Bool = False
    wandb: Wandb | None = None
    task_loss_limit: NonNeg = 16


class DistParams(Section):
    backend: Str | None = None
    port: Int | None = None
    timeout_s: Pos = 1800


class Usm(Section):
    radius: Int | None = None
    weight: Num | None = None
    threshold: Num | None = None


class TrainOptions(Section):
    """A training option file (after ``_base_`` inheritance and ``--force_yml`` overrides)."""

    name: Str
    model_type: Str
    scale: Pos
    num_gpu: Annotated[NonNeg | Auto, either("an integer or 'auto'")] = "auto"
    manual_seed: Annotated[Int, Field(ge=0, le=2 ** 32 - 1)] | None = None
    is_train: Bool = True
    dist: Bool = False
    rank: Int = 0
    world_size: Int = 1
    auto_resume: Bool = False
    root_path: Str | None = None
    find_unused_parameters: Bool = False
    num_threads: Annotated[Pos | Auto, either("a positive integer or 'auto'")] = "auto"
    queue_size: NonNeg = 0
    gt_usm: Bool = False
    l1_gt_usm: Bool | None = None
    percep_gt_usm: Bool | None = None
    gan_gt_usm: Bool | None = None
    usm: Usm | None = None
    degradation: DegradationSpace | None = None
    datasets: Datasets
    network_g: Network
    network_d: Network | None = None
    path: Paths_ = Paths_()
    train: Train
    val: Val | None = None
    logger: Logger = Logger()
    dist_params: DistParams | None = None

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str) -> str:
        """The experiment name is one folder name under ``experiments/``: never empty, never a path."""
        if not name.strip():
            raise ValueError(f"must be a non-empty folder name (it becomes experiments/<name>), got {name!r}")
        if name != name.strip() or name in (".", "..") or any(c in name for c in "/\\\0"):
            raise ValueError(f"{name!r} is not a plain folder name (no '/', '\\', '..', leading or trailing "
                             "spaces): the experiment must stay inside experiments/")
        return name
