"""Step A of TGSR: probe each degradation task with a short single-task fine-tune and score it.

Our reading of the paper (reference/tgsr.md §1.4; the formula is not published, this is a design choice we own):
a copy of the trained model is fine-tuned on task i alone for ``iters`` Adam steps (paper: 100; lr 2e-4 as in
RealESRNet). At step t the copy's training loss L(θ_i^t; B_t) is divided by the frozen model's loss L(θ_r; B_t) on
the *same* batch (same crops, same noise), and the indicator is the mean of that ratio over the last ``window``
steps (paper: 10). A small ratio means a few steps on the task alone already lower its loss a lot: the shared model
left easy gains on the table, so the task is losing the competition ("unsatisfactory"). The ``ratio`` (paper: 40%)
tasks with the smallest indicator are unsatisfactory; a ``1 - ratio`` definition would select the same set.

Dividing by the frozen loss on the same batch cancels how hard the image content is, so tasks are comparable.
At step t every task trains on the same GT crops (drawn from a generator seeded by (seed, t)); each task's noise
realisations come from its own ``torch.Generator`` seeded from (seed, task id). Shared content removes the part
of the ranking's noise that comes from which crops a task happened to get, and results still do not depend on
execution order, chunking or sharding. ``measure: holdout`` scores the copy on a fixed held-out set of the task
instead of its training batches (less noise again, one extra forward of that set per window step).

Every fine-tune step is a :class:`restoration.training.TrainStep` (L1, Adam, balancer ``ew`` with ``reduction:
sum`` over one key per task). Two executions give the same numbers: ``loop`` (one copy at a time, the reference) and
``vmap`` (``chunk`` copies stacked, :class:`restoration.training.stacked.StackedCopies`; with the per-task losses
summed each copy gets its own task's gradient, and Adam is elementwise, so one Adam over stacked parameters equals
one Adam per copy). ``auto`` times both on the first chunk.
"""
from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Literal, Sequence

import torch

from restoration.balancers.weighting import EW
from restoration.competition.data import PatchSource
from restoration.competition.tail import CachedTail
from restoration.degradations import DegradationTask
from restoration.errors import OptionError
from restoration.schema.base import Int, NonNeg, Num, Pos, PosNum, check, options_dataclass
from restoration.training import Batch, TrainStep
from restoration.training.sources import SharedCropSource
from restoration.training.stacked import StackedCopies

EXECUTIONS = ("auto", "loop", "vmap")
MEASURES = ("before", "after", "holdout")


@options_dataclass("probe")
class ProbeConfig:
    """One probe recipe. ``measure``: ``before`` = the training loss of step t (free), ``after`` = the loss on
    B_t once step t has been applied (a TAG-style look-ahead; one more forward per window step), ``holdout`` = the
    loss after step t on a fixed set of ``eval_batch`` pairs of the task that training never sees, divided by the
    frozen model's loss on the same set (one forward of that set per window step). ``tune_last`` > 0 fine-tunes
    only the last that many conv/linear layers (see ``tuned_names``): each step's backward stops there, so a probe
    can take more, cheaper steps (the fast recipe of bench/probe.py). ``pool`` K > 0: the task trains on the batches
    of steps 0..K-1 only, step t on batch t mod K; with ``tune_last`` the frozen part of the network then runs once
    per pair (:class:`~restoration.competition.tail.CachedTail`) and every step costs only the tuned tail. The
    field types are the schema of the ``probe:`` block (restoration.schema), checked on construction and on
    assignment."""

    iters: Pos = 100
    window: Pos = 10
    lr: PosNum = 2e-4
    betas: tuple[Num, Num] = (0.9, 0.99)
    batch_size: Pos = 4
    patch_size: Pos = 64
    degrade_size: NonNeg = 0
    measure: Literal[MEASURES] = "before"  # type: ignore[valid-type]
    seed: Int = 0
    scale: Pos = 4
    execution: Literal[EXECUTIONS] = "auto"  # type: ignore[valid-type]
    chunk: Pos = 8
    eval_batch: Pos = 8
    tune_last: NonNeg = 0  # 0: tune every layer
    pool: NonNeg = 0  # 0: fresh crops at every step

    def __post_init__(self) -> None:
        if self.window > self.iters:
            raise OptionError(f"probe.window ({self.window}) exceeds probe.iters ({self.iters})")

    @property
    def cached(self) -> bool:
        """Whether the frozen part of the network is computed once per pair (``pool`` with ``tune_last``)."""
        return bool(self.pool and self.tune_last)

    @classmethod
    def from_opt(cls, opt: dict | None, where: str = "probe") -> "ProbeConfig":
        return check(cls, dict(opt or {}), where)

    def fingerprint(self) -> str:
        """Hash of everything that changes the indicator values (not how they are executed)."""
        fields = asdict(self)  # pyright: ignore[reportArgumentType]  # a pydantic dataclass (options_dataclass)
        d = {k: v for k, v in fields.items() if k not in ("execution", "chunk")}
        if self.measure != "holdout":
            d.pop("eval_batch")
        if not self.tune_last:
            d.pop("tune_last")  # fingerprints of recipes that tune every layer stay as they were
        if not self.pool:
            d.pop("pool")
        d["crops"] = "shared"  # every task sees the same crops at step t (results before this change differ)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def cost(self, tuned_share: float = 1.0) -> float:
        """Forward-equivalents per task (backward ≈ 2 forwards, only through the tuned share of the network when
        ``tune_last`` freezes the rest: see ``tuned_share``), for comparing recipes."""
        px = self.patch_size ** 2
        if self.cached:  # the frozen share once per pair, the tuned share at every pass
            pairs = min(self.pool, self.iters) * self.batch_size + (self.eval_batch if self.measure == "holdout" else 0)
            passes = {"holdout": (self.window + 1) * self.eval_batch, "after": self.window * self.batch_size,
                      "before": 0}[self.measure] + (0 if self.measure == "holdout" else pairs)
            return ((1.0 - tuned_share) * pairs
                    + tuned_share * (3.0 * self.iters * self.batch_size + passes)) * px
        per_step = (1.0 + 2.0 * tuned_share) * self.batch_size * px
        if self.measure == "holdout":
            return self.iters * per_step + (self.window + 1) * self.eval_batch * px
        extra = self.window * self.batch_size * px * (2 if self.measure == "after" else 1)
        return self.iters * per_step + extra


WEIGHT_LAYERS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.ConvTranspose2d, torch.nn.Linear)


def tuned_names(base: torch.nn.Module, tune_last: int) -> set[str]:
    """Names of the parameters a probe fine-tunes: every one (``tune_last`` 0), or those of the last ``tune_last``
    conv/linear layers and of every module registered after the first of them (PReLU activations, ...).
    Registration order stands for depth, which holds for the SR backbones here (Compact, RRDBNet)."""
    names = [n for n, _ in base.named_parameters()]
    if not tune_last:
        return set(names)
    layers = [n for n, m in base.named_modules() if isinstance(m, WEIGHT_LAYERS)]
    if tune_last > len(layers):
        raise OptionError(f"probe.tune_last: {tune_last} exceeds the model's {len(layers)} conv/linear layers")
    first = layers[-tune_last]
    start = min(i for i, n in enumerate(names) if n.startswith(first + "."))
    return set(names[start:])


def tuned_share(base: torch.nn.Module, tune_last: int) -> float:
    """Share of the parameters a probe fine-tunes: a stand-in for the share of the backward pass it pays for
    (exact for a stack of equal convs at one resolution, such as Compact's body)."""
    keep = tuned_names(base, tune_last)
    total = sum(p.numel() for p in base.parameters())
    return sum(p.numel() for n, p in base.named_parameters() if n in keep) / max(1, total)


def _seed(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def task_seed(seed: int, task: DegradationTask) -> int:
    """A 63-bit seed from (seed, task id): independent of where the task sits in a bank or a shard."""
    return _seed(f"{seed}:{task.task_id}")


def probe_source(source: PatchSource, tasks: Sequence[DegradationTask], cfg: ProbeConfig) -> SharedCropSource:
    """The probe's batches: step t's crops shared by all tasks, each task's noise from its own generator."""
    return SharedCropSource(source, tasks, cfg.batch_size, [task_seed(cfg.seed, t) for t in tasks],
                            lambda t: _seed(f"{cfg.seed}:crops:{t}"))


def _train_batch(source: PatchSource, task: DegradationTask, cfg: ProbeConfig, gen: torch.Generator,
                 t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Step ``t``'s batch: noise from the task's generator, crops shared by all tasks at step ``t``."""
    crops = torch.Generator(device=source.device).manual_seed(_seed(f"{cfg.seed}:crops:{t}"))
    return source.batch(task, cfg.batch_size, gen, crops)


def eval_set(source: PatchSource, task: DegradationTask, cfg: ProbeConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed held-out pairs of ``measure: holdout``: the same crops for every task, the task's own noise."""
    noise = torch.Generator(device=source.device).manual_seed(_seed(f"{cfg.seed}:{task.task_id}:eval"))
    crops = torch.Generator(device=source.device).manual_seed(_seed(f"{cfg.seed}:eval"))
    return source.batch(task, cfg.eval_batch, noise, crops)


def _prepare_copy(base: torch.nn.Module, tune_last: int = 0) -> torch.nn.Module:
    net = copy.deepcopy(base)
    net.train()
    keep = tuned_names(net, tune_last)
    for n, p in net.named_parameters():
        p.requires_grad_(n in keep)
    return net


def probe_step(base: torch.nn.Module, tasks: int, cfg: ProbeConfig, batched: bool = False) -> TrainStep:
    """The fine-tune of ``tasks`` copies of ``base``: one copy (``batched`` False, ``tasks`` 1) or stacked copies,
    each trained on its own task (key = task position; the per-task mean losses are summed). A cached recipe
    (``cfg.cached``) trains the copy's :class:`CachedTail`, whose inputs are pair indices."""
    if batched:
        net: torch.nn.Module = StackedCopies(base, tasks, tuned_names(base, cfg.tune_last))
    elif tasks == 1:
        net = _prepare_copy(base, cfg.tune_last)
        if cfg.cached:
            net = CachedTail(net, tuned_names(net, cfg.tune_last))
    else:
        raise ValueError("one task per copy: several tasks need batched=True")
    return TrainStep.adam(net, cfg.lr, cfg.betas, balancer=EW({"reduction": "sum", "over": "tasks"}), num_keys=tasks)


@dataclass
class ProbeTrace:
    """One task's probe: the loss ratios of the window and the training loss of every step (mean over its batch)."""

    ratios: list[float]
    losses: list[float]


def probe_trace(base: torch.nn.Module, tasks: Sequence[DegradationTask], source: PatchSource, cfg: ProbeConfig,
                batched: bool = False) -> list[ProbeTrace]:
    """Probe ``tasks`` (one at a time unless ``batched``): fine-tune, and divide each window step's loss by the
    frozen model's loss on the same pairs."""
    n = len(tasks)
    step = probe_step(base, n, cfg, batched)
    tail = step.net if isinstance(step.net, CachedTail) else None  # a cached recipe run one task at a time
    stream = probe_source(source, tasks, cfg)
    batches: Callable[[int], Batch] = stream
    pool_frozen: list[torch.Tensor] = []
    if cfg.pool:
        pool = [stream(t) for t in range(min(cfg.pool, cfg.iters))]
        if tail is not None:  # the pairs become indices into the tail's cache of frozen values
            pool = [Batch(tail.add(b.lq), b.gt, b.keys) for b in pool]
            if cfg.measure != "holdout":  # before any step the copy is the base: the frozen losses of the pool
                pool_frozen = [step.evaluate(b).key_means() for b in pool]
        batches = lambda t: pool[t % len(pool)]  # noqa: E731
    if cfg.measure == "holdout":
        pairs = [eval_set(source, task, cfg) for task in tasks]
        held = Batch(torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs]),
                     torch.arange(n, device=source.device).repeat_interleave(cfg.eval_batch))
        if tail is not None:
            held = Batch(tail.add(held.lq), held.gt, held.keys)
        held_frozen = step.evaluate(held, None if tail is not None else base).key_means()
    losses, ratios = [], []
    first = cfg.iters - cfg.window
    for t in range(cfg.iters):
        batch = batches(t)
        result = step.step(batch)
        losses.append(result.key_means())
        if t >= first:
            if cfg.measure == "holdout":
                frozen, cur = held_frozen, step.evaluate(held).key_means()
            else:
                frozen = (pool_frozen[t % len(pool_frozen)] if tail is not None
                          else step.evaluate(batch, base).key_means())
                cur = step.evaluate(batch).key_means() if cfg.measure == "after" else result.key_means()
            ratios.append(cur / frozen.clamp_min(1e-12))
    loss_rows, ratio_rows = torch.stack(losses).T.tolist(), torch.stack(ratios).T.tolist()
    return [ProbeTrace(r, lo) for r, lo in zip(ratio_rows, loss_rows)]


def probe_loop(base: torch.nn.Module, task: DegradationTask, source: PatchSource, cfg: ProbeConfig) -> list[float]:
    """Reference execution: the window's loss ratios for one task."""
    return probe_trace(base, [task], source, cfg)[0].ratios


def probe_vmap(base: torch.nn.Module, tasks: Sequence[DegradationTask], source: PatchSource,
               cfg: ProbeConfig) -> list[list[float]]:
    """Batched execution: all ``tasks`` fine-tuned at once as stacked copies (``torch.func.vmap``)."""
    return [trace.ratios for trace in probe_trace(base, tasks, source, cfg, batched=True)]


def choose_execution(base: torch.nn.Module, tasks: Sequence[DegradationTask], source: PatchSource,
                     cfg: ProbeConfig, steps: int = 2) -> str:
    """Time ``steps`` fine-tune steps of both executions on ``tasks`` and return the faster one."""
    if len(tasks) < 2:
        return "loop"
    fields = asdict(cfg)  # pyright: ignore[reportArgumentType]  # a pydantic dataclass (options_dataclass)
    trial = ProbeConfig(**{**fields, "iters": steps, "window": 1, "execution": "loop"})
    t0 = time.perf_counter()
    for task in tasks:
        probe_loop(base, task, source, trial)
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        probe_vmap(base, tasks, source, trial)
    except (RuntimeError, NotImplementedError):  # an op without a batching rule: the loop always works
        return "loop"
    t_vmap = time.perf_counter() - t0
    return "vmap" if t_vmap < t_loop else "loop"


@dataclass
class ProbeResult:
    index: int
    task_id: str
    indicator: float
    ratios: list[float] = field(default_factory=list)
    seconds: float = 0.0
    execution: str = "loop"

    def to_json(self) -> dict:
        return asdict(self)


def run_probe(base: torch.nn.Module, tasks: Sequence[tuple[int, DegradationTask]], source: PatchSource,
              cfg: ProbeConfig, on_result: Callable[[ProbeResult], None] | None = None) -> Iterable[ProbeResult]:
    """Probe ``(index, task)`` pairs in chunks; yields (and passes to ``on_result``) one result per task as soon
    as it is known. ``seconds`` is the wall time of the chunk divided by its size."""
    base = base.to(source.device).eval()
    for p in base.parameters():
        p.requires_grad_(False)
    execution = cfg.execution
    items = list(tasks)
    pos = 0
    while pos < len(items):
        if execution == "auto" and cfg.cached:
            execution = "loop"  # the cache is per copy
        if execution == "auto":  # decided once, on the first chunk
            execution = choose_execution(base, [t for _, t in items[pos:pos + cfg.chunk]], source, cfg)
        chunk = items[pos:pos + (cfg.chunk if execution == "vmap" else 1)]
        t0 = time.perf_counter()
        if execution == "vmap" and len(chunk) > 1:
            all_ratios = probe_vmap(base, [t for _, t in chunk], source, cfg)
        else:
            all_ratios = [probe_loop(base, t, source, cfg) for _, t in chunk]
        secs = (time.perf_counter() - t0) / len(chunk)
        for (idx, task), ratios in zip(chunk, all_ratios):
            res = ProbeResult(idx, task.task_id, sum(ratios) / len(ratios), ratios, secs, execution)
            if on_result is not None:
                on_result(res)
            yield res
        pos += len(chunk)


def select_unsatisfactory(indicator: dict[int, float], ratio: float) -> list[int]:
    """The ``ratio`` share of tasks with the smallest indicator (ties broken by index), sorted by index."""
    if not 0 < ratio <= 1:
        raise OptionError(f"select.ratio: expected a share in (0, 1], got {ratio!r}")
    k = max(1, round(ratio * len(indicator))) if indicator else 0
    ranked = sorted(indicator, key=lambda i: (indicator[i], i))
    return sorted(ranked[:k])
