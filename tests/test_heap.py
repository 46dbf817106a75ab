import subprocess
import sys

import pytest

from restoration.heap import glibc

# Degrade a group of 64 images of 160 px three times (chunked: stacks of 9.8 MB): the minor page faults of the
# last round.
PROBE = """
import resource, sys
import torch
from restoration.degradations import TaskBank, degrade
from restoration.heap import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
torch.set_num_threads(1)
gt = torch.rand(64, 3, 160, 160, generator=torch.Generator().manual_seed(0))
task = TaskBank.sample(1, seed=0).tasks[0]
for k in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    degrade(gt, [task] * 64, torch.Generator().manual_seed(k))
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(glibc() is None, reason="the C library is not glibc")
def test_keep_freed_memory_reuses_the_pages_of_freed_tensors():
    """By default glibc unmaps or trims the synthesis' freed stacks and the next round faults their pages in
    afresh; kept, a round mostly reuses the pages of the last."""
    faults = {mode: int(subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                                       check=True).stdout.split()[-1])
              for mode in ("default", "keep")}
    assert faults["keep"] < faults["default"] / 2, faults
