"""Round 0: the starting model, measured before anything trains it.

No adapter and no training: the base model answers the held-out prompts (scored by the judge, which
here is the anchor itself) and the probes, so that every later round has a before to compare with:
each round's probe changes are paired with round 0's answers to the same prompts. It is resumable
like any round: written into round-000.partial/ and renamed when complete.
"""

from __future__ import annotations

import time
from typing import Any

from loop.dist import is_main
from loop.training.measure import measure_policy
from loop.training.steps import RoundContext, begin_round, conclude_round, make_judging


def baseline_round(ctx: RoundContext) -> dict[str, Any]:
    started = time.time()
    # 1. A clean folder, and a record of what the measurement used (the same snapshots as any round).
    folder = begin_round(ctx, "baseline", starts_from="base model (no adapter, no training)")
    # 2. The judge reads with the plain base model: in round 0 the round's judge is the anchor.
    judging = make_judging(ctx, ctx.base_model)
    # 3. The outside view of the base model; there is no round start to drift from. With several
    #    processes, rank 0 alone measures (loop/dist.py).
    with ctx.progress:
        measured = measure_policy(ctx, ctx.base_model, judging, start_view=None) if is_main() else None
    # 4. Publish: no adapter (export of round 0 is the base model itself).
    return conclude_round(ctx, folder, "baseline", measured, [], started, judging.judge)
