"""Training entry point: ``python -m restoration.train -opt FILE.yml [--auto_resume] [--debug] [--launcher pytorch]``.

BasicSR is the engine (registries, models, loggers, checkpoints, EMA); this loop replaces its
``train_pipeline`` only where that one does not fit: options are validated and the datasets built before anything
is created, distributed runs use gloo on CPU (NCCL on CUDA), an experiment folder with results (weights or training
states) is never renamed (BasicSR's ``mkdir_and_rename``) but refused unless resuming, while a folder without any
(a failed start, a run killed before its first checkpoint) is reused; resume states load with
``weights_only=True`` on any device, and the data stream is indexed by sample position, so a resumed run continues
exactly where it stopped. The folder keeps the option file as given and the resolved options (after
``--force_yml``), the log, ``curves.jsonl`` and ``curves.png``.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import restoration
from restoration.errors import OptionError, RestorationError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-opt", "--opt", dest="opt", required=True, help="training option file (YAML)")
    parser.add_argument("--launcher", choices=["none", "pytorch"], default="none",
                        help="pytorch = started by torchrun (gloo on CPU, NCCL on CUDA)")
    parser.add_argument("--auto_resume", action="store_true", help="continue from the latest training state")
    parser.add_argument("--debug", action="store_true", help="debug_ run: log every iteration, validate/save every 8")
    parser.add_argument("--force_yml", nargs="+", default=None, metavar="KEY=VALUE",
                        help="override options, e.g. train:total_iter=100 (values parsed as YAML)")


def _latest_state(folder: Path) -> Path | None:
    states = [p for p in folder.glob("*.state") if p.stem.isdigit()] if folder.is_dir() else []
    return max(states, key=lambda p: int(p.stem)) if states else None


def has_results(exp: Path) -> bool:
    """Weights or training states: what a run leaves that is worth protecting (a log or option file is not)."""
    for sub in ("models", "training_states"):
        folder = exp / sub
        if folder.is_dir() and any(p.is_file() and not p.name.endswith(".tmp") for p in folder.iterdir()):
            return True
    return False


def prepare(opt_path: str, launcher: str = "none", auto_resume: bool = False, debug: bool = False,
            force_yml: list[str] | None = None, root: str | os.PathLike | None = None) -> tuple[dict, dict | None]:
    """Validated options with BasicSR's run-time fields, and the resume state (or None). Creates no folder."""
    restoration.register()
    from restoration.options import load_options

    root = Path(root) if root is not None else Path.cwd()
    opt = load_options(opt_path, force_yml, base=root)
    if debug and not opt["name"].startswith("debug"):
        opt["name"] = "debug_" + opt["name"]
    if debug:
        opt.setdefault("logger", {}).update(print_freq=1, save_checkpoint_freq=8)
        if opt.get("val"):
            opt["val"]["val_freq"] = 8
    import torch

    from restoration import dist as rdist
    from restoration.models.realsr_mtl_model import pick_device

    device = pick_device(opt)
    if launcher == "pytorch":
        dp = opt.get("dist_params") or {}
        rank, world = rdist.init_distributed(device.type, dp.get("backend"), int(dp.get("timeout_s", 1800)))
    else:
        rank, world = 0, 1
    seed = opt.get("manual_seed")
    opt.update(is_train=True, dist=launcher != "none", rank=rank, world_size=world, auto_resume=auto_resume,
               root_path=str(root), manual_seed=int(seed if seed is not None else 0))
    opt.setdefault("logger", {}).setdefault("print_freq", 100)
    opt["logger"].setdefault("save_checkpoint_freq", 5000)
    opt["logger"].setdefault("use_tb_logger", False)
    exp = root / "experiments" / opt["name"]
    opt["path"] = dict(opt.get("path") or {})
    opt["path"].update(experiments_root=str(exp), models=str(exp / "models"),
                       training_states=str(exp / "training_states"), log=str(exp),
                       visualization=str(exp / "visualization"))
    state_path = None
    if auto_resume:
        state_path = _latest_state(exp / "training_states")
    elif opt["path"].get("resume_state"):
        state_path = Path(opt["path"]["resume_state"])
    if state_path is None and has_results(exp):
        if auto_resume:
            raise OptionError(f"experiment folder {exp} has weights but no training state to resume (a finished "
                              "run?): choose another name (nothing is renamed or deleted)")
        raise OptionError(f"experiment folder {exp} already exists: pass --auto_resume to continue it, set "
                          "path.resume_state, or choose another name (nothing is renamed or deleted)")
    resume = None
    if state_path is not None:
        from restoration.models.training_state import safe_load

        resume = safe_load(state_path)
        it = int(resume["iter"])
        model_file = Path(opt["path"]["models"]) / f"net_g_{it}.pth"
        if not model_file.is_file():
            raise OptionError(f"resume state {state_path} has no matching weights {model_file}")
        # the run's own checkpoint: net_g is its ``params`` whatever key started the run (``param_key_g`` names
        # the entry of the *initial* weights, e.g. a released model's ``params_ema``)
        opt["path"].update(pretrain_network_g=str(model_file), strict_load_g=True, resume_state=str(state_path),
                           param_key_g="params", deepen_g=False)
        d_file = Path(opt["path"]["models"]) / f"net_d_{it}.pth"
        if opt.get("network_d") and d_file.is_file():
            opt["path"].update(pretrain_network_d=str(d_file), strict_load_d=True)
    torch.manual_seed(opt["manual_seed"] + rank)
    rdist.barrier()  # every rank has checked the experiment folder before rank 0 creates it
    return opt, resume


def _loaders(opt: dict, start_iter: int):
    import torch
    from basicsr.data import build_dataset

    from restoration.data.samplers import PositionSampler

    train_opt = dict(opt["datasets"]["train"], phase="train", scale=opt["scale"], seed=opt["manual_seed"])
    train_set = build_dataset(train_opt)
    bs, nw = int(train_opt["batch_size_per_gpu"]), int(train_opt.get("num_worker_per_gpu", 0))
    sampler = PositionSampler(bs, opt["world_size"], opt["rank"], start_iter)
    loader = torch.utils.data.DataLoader(train_set, batch_size=bs, sampler=sampler, num_workers=nw, drop_last=True,
                                         pin_memory=bool(train_opt.get("pin_memory", False)),
                                         persistent_workers=nw > 0 and bool(train_opt.get("persistent_workers")))
    val_loaders = []
    for phase, dopt in opt["datasets"].items():
        if phase.startswith("val"):
            vset = build_dataset(dict(dopt, phase="val", scale=opt["scale"]))
            val_loaders.append(torch.utils.data.DataLoader(vset, batch_size=1, shuffle=False, num_workers=0))
    return train_set, loader, val_loaders


def train_pipeline(opt: dict, resume: dict | None, opt_path: str | None = None, stop_at: int | None = None):
    """Run the loop; returns the model. ``stop_at`` ends early after that iteration (tests), saving a state.

    The datasets are built before the experiment folder is created: a dataset that cannot be read leaves nothing.
    """
    from basicsr.utils import get_env_info, get_root_logger, get_time_str, init_tb_logger
    from basicsr.utils.options import dict2str

    from restoration import dist as rdist
    from restoration.options import RESOLVED_OPTIONS, write_resolved

    rank = opt["rank"]
    start_iter = int(resume["iter"]) if resume else 0
    data = _loaders(opt, start_iter)
    for key in ("experiments_root", "models", "training_states", "visualization"):
        if rank == 0:
            os.makedirs(opt["path"][key], exist_ok=True)
    rdist.barrier()
    exp = Path(opt["path"]["experiments_root"])
    if rank == 0 and resume is None:
        if opt_path and Path(opt_path).name != RESOLVED_OPTIONS:
            shutil.copy(opt_path, exp / Path(opt_path).name)
        write_resolved(opt, exp)
    log_file = Path(opt["path"]["log"]) / f"train_{opt['name']}_{get_time_str()}.log"
    logger = get_root_logger(logger_name="basicsr", log_level=logging.INFO, log_file=str(log_file))
    logger.setLevel(logging.INFO if rank == 0 else logging.ERROR)  # building the datasets may have set it up first
    for h in list(logger.handlers):  # one logger per run: a second run in the same process logs to its own file
        if isinstance(h, logging.FileHandler) and h.baseFilename != str(log_file.resolve()):
            logger.removeHandler(h)
    if rank == 0 and not any(isinstance(h, logging.FileHandler) for h in logger.handlers):
        fh = logging.FileHandler(str(log_file), "a")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s"))
        logger.addHandler(fh)
    logger.info(get_env_info())
    logger.info(dict2str(opt))
    tb_logger = None
    if opt["logger"].get("use_tb_logger") and rank == 0 and "debug" not in opt["name"]:
        tb_logger = init_tb_logger(log_dir=str(exp / "tb_logger"))

    from restoration.job_threads import job_threads
    from restoration.threads import torch_threads

    workers = int(opt["datasets"]["train"].get("num_worker_per_gpu", 0) or 0)
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if opt["dist"] else 1
    threads, why = job_threads(opt.get("num_threads", "auto"), workers=workers, local_ranks=local_ranks)
    logger.info(f"Torch threads: {threads} ({why}); OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    try:
        with torch_threads(threads):
            return _train_loop(opt, resume, data, logger, tb_logger, stop_at)
    finally:
        if tb_logger:
            tb_logger.close()


def _validate(model, opt: dict, val_loaders, current_iter: int, tb_logger, logger, curves) -> None:
    """Every validation set once; metrics (and the bicubic baseline) go to the curves file."""
    for vl in val_loaders:
        model.validation(vl, current_iter, tb_logger, opt["val"].get("save_img", False))
        if curves is None:
            continue
        name = vl.dataset.opt.get("name", "val")
        metrics = {k: float(v) for k, v in (getattr(model, "metric_results", None) or {}).items()}
        bicubic = model.bicubic_results.get(name, {})
        curves.add({"kind": "val", "iter": current_iter, "dataset": name, "metrics": metrics, "bicubic": bicubic})
        worse = [k for k, v in metrics.items() if k in bicubic and "psnr" in k.lower() and v < bicubic[k]]
        for k in worse:
            logger.warning(f"Validation {name} at iter {current_iter}: {k} {metrics[k]:.4f} is below bicubic "
                           f"({bicubic[k]:.4f}): the model is worse than plain upscaling so far")


def _train_loop(opt: dict, resume: dict | None, data, logger, tb_logger, stop_at: int | None):
    from basicsr.models import build_model

    from restoration import dist as rdist
    from restoration.train_log import Clock, CurveLog, progress_line, tb_scalars

    train_set, loader, val_loaders = data
    start_iter = int(resume["iter"]) if resume else 0
    model = build_model(opt)
    model.attach_training_data(train_set)
    if resume:
        model.resume_training(resume)
        logger.info(f"Resuming training from iter {start_iter}.")
    total = int(opt["train"]["total_iter"])
    end = min(total, stop_at) if stop_at else total
    per_epoch = max(1, len(train_set))
    gbs = opt["datasets"]["train"]["batch_size_per_gpu"] * opt["world_size"]
    logger.info(f"Training: {len(train_set)} GT images, global batch {gbs}, iterations {start_iter + 1}..{end}")
    rank0 = opt["rank"] == 0
    curves = CurveLog(opt["path"]["experiments_root"], start_iter) if rank0 else None
    print_freq, ckpt_freq = opt["logger"]["print_freq"], opt["logger"]["save_checkpoint_freq"]
    val_freq = opt["val"]["val_freq"] if opt.get("val") and val_loaders else 0
    clock = Clock(total)
    every = {"checkpoint": ckpt_freq, "validation": val_freq}
    it_data = iter(loader)
    t_data = t_iter = 0.0
    tick = time.perf_counter()
    for current_iter in range(start_iter + 1, end + 1):
        batch = next(it_data)
        t0 = time.perf_counter()
        t_data += t0 - tick
        model.update_learning_rate(current_iter, warmup_iter=opt["train"].get("warmup_iter", -1))
        model.feed_data(batch)
        model.optimize_parameters(current_iter)
        clock.add_iteration(time.perf_counter() - tick)  # data + step
        tick = time.perf_counter()
        t_iter += tick - t0
        if current_iter % print_freq == 0:
            values = dict(model.get_current_log())
            line = progress_line(opt["name"], current_iter * gbs // per_epoch, current_iter,
                                 model.get_current_learning_rate(), clock.eta(current_iter, every),
                                 t_iter / print_freq, t_data / print_freq, values)
            if rank0:
                logger.info(line)
                if "debug" not in opt["name"]:
                    tb_scalars(tb_logger, values, current_iter)
            if curves is not None:  # rank 0 only
                curves.add({"kind": "train", "iter": current_iter, "values": values, "time": t_iter / print_freq,
                            "data_time": t_data / print_freq, "eta_s": round(clock.eta(current_iter, every), 1)})
            t_data = t_iter = 0.0
        saved = validated = False
        if current_iter % ckpt_freq == 0 or current_iter == stop_at:
            t = time.perf_counter()
            logger.info("Saving models and training states.")
            model.save(current_iter * gbs // per_epoch, current_iter)
            clock.add_pause("checkpoint", time.perf_counter() - t)
            saved = True
        if val_freq and current_iter % val_freq == 0:
            t = time.perf_counter()
            _validate(model, opt, val_loaders, current_iter, tb_logger, logger, curves)
            clock.add_pause("validation", time.perf_counter() - t)
            validated = True
        if (saved or validated) and curves is not None:
            curves.plot()
        if current_iter % ckpt_freq == 0:
            rdist.barrier()
        if saved or validated:
            tick = time.perf_counter()  # pauses are not data time
    if end == total:
        logger.info("End of training. Saving the latest model.")
        model.save(-1, -1)
        if val_freq and total % val_freq != 0:
            _validate(model, opt, val_loaders, total, tb_logger, logger, curves)
        if curves is not None:
            curves.plot()
    return model


def run(args: argparse.Namespace) -> int:
    """Shared by ``python -m restoration.train`` and ``restoration train``."""
    from restoration import dist as rdist
    try:
        opt, resume = prepare(args.opt, args.launcher, args.auto_resume, args.debug, args.force_yml)
        train_pipeline(opt, resume, args.opt)
    finally:
        rdist.destroy()
    return 0


def main(argv: list[str] | None = None) -> int:
    from restoration.threads import prefer_passive_wait

    prefer_passive_wait()  # before torch loads
    parser = argparse.ArgumentParser(prog="python -m restoration.train", description="Train a restoration model.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except RestorationError as exc:
        print(f"restoration train: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
