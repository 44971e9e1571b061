"""Training: a run read as a recipe (`round.py`), one module per round kind, each itself a recipe
(`baseline.py` round 0, `warm_start.py`, `grpo_round.py`, `dpo_round.py`), built from the steps every
round shares (`steps.py`) and the parts of a self-rewarding round built in one place (`parts.py`).

What those rounds are made of: the prompts dealt by behaviour (`deal.py`), how far the round trusts
its judge (`judge_trust.py`), the reward functions TRL calls (`rewards.py`, rules first in
`rules_first.py`; the rule checks themselves are loop/rules.py), DPO's preference pairs
(`preferences.py`), the trainer (`trainer.py`) and its critique recorder (`recorder.py`, a trainer
callback), the judge's own fine-tuning (`judge_train.py`), and the progress a round reports
(`progress.py`). What a round measures at its end is loop/measure/; the benchmarks are loop/bench/.

Nothing here imports `loop.views`, `loop.bench` or `loop.cli`: the round reports progress through a
callback the CLI hands it.
"""
