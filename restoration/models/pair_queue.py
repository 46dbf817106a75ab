"""Real-ESRGAN's training-pair pool: mixes synthesised pairs across iterations so one batch holds more varied
degradations. Ours also carries each sample's task/group keys (for per-task losses), draws its shuffles from
its own seeded generator, and saves/restores its content so a resumed run continues bit-exactly."""
from __future__ import annotations

import torch


class PairQueue:
    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = int(size)
        self.gen = torch.Generator().manual_seed(int(seed))
        self.fields: dict[str, torch.Tensor] | None = None
        self.ptr = 0

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Enqueue ``batch`` (tensors with the same first dimension); once full, return a shuffled dequeue."""
        b = next(iter(batch.values())).shape[0]
        if self.fields is None:
            if self.size % b:
                raise ValueError(f"queue_size {self.size} must be divisible by the batch size {b}")
            self.fields = {k: v.new_zeros((self.size, *v.shape[1:])) for k, v in batch.items()}
        if self.ptr < self.size:  # still filling: train on the batch as it is
            for k, v in batch.items():
                self.fields[k][self.ptr:self.ptr + b] = v
            self.ptr += b
            return batch
        idx = torch.randperm(self.size, generator=self.gen).to(next(iter(self.fields.values())).device)
        out = {}
        for k, v in batch.items():
            q = self.fields[k][idx]
            out[k] = q[:b].clone()
            q[:b] = v
            self.fields[k] = q
        return out

    def state_dict(self) -> dict:
        return {"size": self.size, "ptr": self.ptr, "gen": self.gen.get_state(),
                "fields": None if self.fields is None else {k: v.cpu() for k, v in self.fields.items()}}

    def load_state_dict(self, d: dict, device: torch.device) -> None:
        self.size, self.ptr = int(d["size"]), int(d["ptr"])
        self.gen.set_state(d["gen"])
        self.fields = None if d["fields"] is None else {k: v.to(device) for k, v in d["fields"].items()}
