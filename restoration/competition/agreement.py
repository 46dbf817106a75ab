"""Does the fast probe rank tasks like the faithful one at this base? (``restoration tasks agree``)

The fast recipe is only worth its savings while it finds the same unsatisfactory tasks as the faithful probe, and
that depends on the model being probed: re-measure it whenever the base changes. Both probes of one option file
write into its output folder (``probe/`` and ``probe_fast/``); the faithful one may cover a subset of the bank
(``--shard 0/8``). Compared on the tasks both have: Spearman's rank correlation of the indicators, the overlap of
the ``select.ratio`` share of tasks each calls unsatisfactory, and the work per task (forward-equivalents from the
recipes, and measured seconds). With more than one shard probed, Spearman and the overlap per shard show how much
of a difference between recipes is the draw of tasks.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from restoration.competition.probe import ProbeConfig, select_unsatisfactory
from restoration.competition.probe_run import probe_dir
from restoration.competition.store import SHARD_RE, read_header, read_results
from restoration.errors import RestorationError


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rho (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b)[0])  # pyright: ignore[reportArgumentType]


def rank_agreement(ind_a: dict[int, float], ind_b: dict[int, float], ratio: float) -> dict:
    """Spearman and the overlap of the ``ratio`` share each calls unsatisfactory, on the tasks of ``ind_a``."""
    tasks = sorted(ind_a)
    ind_b = {i: ind_b[i] for i in tasks}
    top_a, top_b = set(select_unsatisfactory(ind_a, ratio)), set(select_unsatisfactory(ind_b, ratio))
    return {"tasks": len(tasks), "spearman": spearman([ind_a[i] for i in tasks], [ind_b[i] for i in tasks]),
            "top_overlap": len(top_a & top_b) / max(1, len(top_a))}


def probe_agreement(opt: dict) -> dict:
    """Compare the faithful and fast probe results of one option file; writes ``agreement.json`` beside them."""
    faithful_dir, fast_dir = probe_dir(opt, False), probe_dir(opt, True)
    faithful, fast = read_results(faithful_dir), read_results(fast_dir)
    common = sorted(set(faithful) & set(fast))
    if len(common) < 3:
        raise RestorationError(f"{len(common)} task(s) probed by both recipes ({faithful_dir}: {len(faithful)}, "
                               f"{fast_dir}: {len(fast)}); run both probes first")
    ratio = float(opt["select"]["ratio"])
    ind_a = {i: float(faithful[i]["indicator"]) for i in common}
    ind_b = {i: float(fast[i]["indicator"]) for i in common}
    head_a, head_b = read_header(faithful_dir) or {}, read_header(fast_dir) or {}
    cfg_a = ProbeConfig.from_opt(head_a.get("config"), "probe")
    cfg_b = ProbeConfig.from_opt(head_b.get("config"), "fast")
    work_a = cfg_a.cost(float(head_a.get("tuned_share", 1.0)))  # headers before tune_last was costed: 1.0
    work_b = cfg_b.cost(float(head_b.get("tuned_share", 1.0)))
    sec_a = float(np.mean([float(faithful[i].get("seconds", 0.0)) for i in common]))
    sec_b = float(np.mean([float(fast[i].get("seconds", 0.0)) for i in common]))
    out = {**rank_agreement(ind_a, ind_b, ratio), "ratio": ratio,
           "work_ratio": work_a / work_b,
           "seconds_per_task": {"faithful": sec_a, "fast": sec_b},
           "seconds_ratio": sec_a / sec_b if sec_b > 0 else None,
           "recipes": {"faithful": {"iters": cfg_a.iters, "window": cfg_a.window},
                       "fast": {"iters": cfg_b.iters, "window": cfg_b.window, "tune_last": cfg_b.tune_last,
                                "pool": cfg_b.pool}}}
    shards = sorted({(int(m[1]), int(m[2])) for d in (faithful_dir, fast_dir) for f in Path(d).iterdir()
                     if (m := SHARD_RE.match(f.name)) and int(m[2]) > 1})
    by_shard = {f"{k}/{n}": rank_agreement({i: v for i, v in ind_a.items() if i % n == k}, ind_b, ratio)
                for k, n in shards if sum(1 for i in common if i % n == k) >= 3}
    if len(by_shard) > 1:
        out["by_shard"] = by_shard
    path = Path(opt["output"]) / "agreement.json"
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    out["file"] = str(path)
    return out
