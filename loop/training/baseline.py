"""Round 0: the starting model, measured before anything trains it.

No adapter and no training: the base model answers the held-out prompts (scored by the judge, which
here is the anchor itself) and the probes, so that every later round has a before to compare with:
each round's probe changes are paired with round 0's answers to the same prompts. The judge also reads
every labeled pair (loop/training/judge_trust.py): round 0's judge is the anchor, so its figures say
how far to trust what the anchor decides, and later rounds re-read only a slice. It is resumable
like any round: written into round-000.partial/ and renamed when complete.
"""

from __future__ import annotations

import time
from typing import Any

from loop.dist import is_main, on_main
from loop.measure.gate import gate_round
from loop.measure.outside_view import measure_policy
from loop.training import judge_trust
from loop.training.steps import RoundContext, anchor_judging, begin_round, conclude_round


def baseline_round(ctx: RoundContext) -> dict[str, Any]:
    started = time.time()
    # 1. A clean folder, and a record of what the measurement used (the same snapshots as any round).
    folder = begin_round(ctx, "baseline", starts_from="base model (no adapter, no training)",
                         judge_is_anchor=True)
    # 2. The judge reads with the plain base model: in round 0 the round's judge is the anchor.
    judging = anchor_judging(ctx, ctx.base_model)
    # 3. How far the anchor can be trusted: it reads all the labeled pairs (later rounds carry them over).
    #    Rank 0 alone reads and records them; every process gets the result (loop/dist.py).
    trust = on_main(judge_trust.assess, ctx.plan, ctx.number, folder, judging.judge, ctx.base_model, ctx.progress)
    # 4. The outside view of the base model; there is no round start to drift from. With several
    #    processes, rank 0 alone measures.
    with ctx.progress:
        measured = measure_policy(ctx, ctx.base_model, judging, start_view=None) if is_main() else None
        gate = gate_round(ctx, folder, ctx.base_model, judged=False) if is_main() else None  # the base's gate answers
    # 5. Publish: no adapter (export of round 0 is the base model itself).
    return conclude_round(ctx, folder, "baseline", measured, [], started, judging.judge,
                          reliability=trust.reliability, gate=gate)
