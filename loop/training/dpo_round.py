"""A self-rewarding round by DPO, read top to bottom like a recipe: the policy samples a group of answers
to each prompt of the round's slice, the frozen round-start model M_t rewards them against every
principle, the best and the worst answer of each group become a preference pair, and TRL's DPOTrainer
trains the policy on the pairs: M_{t+1} comes out. This is Self-Rewarding LMs' own recipe, here beside
GRPO ([train] method) so the two can be run head to head (loop/bench/head_to_head.py).

How it departs from Self-Rewarding LMs, and what it shares with the GRPO round (grpo_round.py):
1. The same prompts (`round_prompts`, dealt by behaviour), sampled as GRPOTrainer samples: [grpo]'s num_generations,
   temperature, top_p, top_k, min_p, repetition_penalty and max_completion_length, from the same
   round-start policy, so both methods see alike answers.
2. The same rewards: the same reward functions and weights (loop/training/parts.py), called with TRL's
   signature and the pool's columns as keyword arguments, as GRPOTrainer calls them; the judge is M_t.
   Self-Rewarding LMs parse a 5-point score from a 70B judge's text; ours is a probability.
3. Best and worst by the quantity GRPO's advantage ranks by (loop/training/preferences.py mirrors TRL's
   multi_objective_aggregation), so on the same samples the two methods agree on which answer is
   better. A pair only when the two differ by more than [train] dpo_margin: ties and near-ties are
   judge noise, skipped and counted. Answers no principle could score are in no pair.
4. All of a round's samples come from M_t before it trains (offline, as iterative DPO); GRPO samples
   from the policy as it trains.
5. The reference is M_t: given a PeftModel and no ref_model, TRL's DPOTrainer copies the round-start
   "default" adapter into a frozen "ref" adapter. The judge has its own frozen copy of M_t
   (loop/training/parts.py), whatever the trainer does. One copy of the base weights, as in GRPO.
6. TRL closes every chosen and rejected answer with the chat template's end of turn, so an answer the
   length limit cut is trained as if it ended there; preferences.jsonl records where each was cut.
7. With [train] revision_pairs, M_t also rewrites its own answers (loop/training/revision.py), and each
   rewrite kept as measurably better is a pair over its original, as Constitutional AI's revisions.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from loop.trl_tables import dpo_args, grpo_args
from loop.dist import is_main, on_main
from loop.errors import LoopError
from loop.generation import cut_at, encode_chats, eos_ids, stop_ids
from loop.measure import diagnostics, evaluate
from loop.measure.gate import gate_round, start_round
from loop.measure.outside_view import measure_policy
from loop.phases import phase, timed
from loop.model import no_telemetry
from loop.stats import mean
from loop.training.parts import rewarded_parts
from loop.training.preferences import PairChoice, choose_pair, pair_counts, ranking_values
from loop.training.progress import step_progress
from loop.ledger.store import REVISIONS_FILE
from loop.training.revision import revisable_rows, revise_in_round, revision_preferences
from loop.training.rewards import user_prompt
from loop.training.rules_first import combine
from loop.training.steps import (RoundContext, RoundExtra, begin_round, conclude_round, policy_model, policy_start,
                                 prompt_dataset, round_prompts, sampling_check, write_jsonl)


def dpo_round(ctx: RoundContext) -> dict[str, Any]:
    """One self-rewarding round by DPO; each numbered step is a function below, in the same order."""
    started = time.time()
    config, r, progress = ctx.config, ctx.number, ctx.progress
    no_telemetry()
    # 1. A clean folder for the round, and a record of exactly what it uses.
    slice_indices = round_prompts(ctx)
    folder = begin_round(ctx, "dpo", starts_from=policy_start(ctx), judge_is_anchor=start_round(ctx) == 0,
                         prompt_indices=slice_indices, method="dpo")
    # 2. The prompts: the slice a GRPO round would train on, with the pool's columns.
    dataset = prompt_dataset(ctx, slice_indices)
    # 3. The model: one copy of the base weights; the policy adapter starts where round r - 1 ended.
    model = policy_model(ctx)
    # 4. Settings: sampling as [grpo] samples, training from [dpo] (TRL's names, checked by plan_run).
    sampling = grpo_args(config, folder / "trainer", seed=config.run.seed + r, path=ctx.toml)
    args = dpo_args(config, folder / "trainer", seed=config.run.seed + r, path=ctx.toml)
    aggregation = sampling.multi_objective_aggregation if config.train.aggregation == "weighted" else "rules_first"

    # 5. The judge (a frozen copy of the round start M_t), how far it is trusted, and the rewards, built
    #    together as a GRPO round builds them (loop/training/parts.py); the trainer needs the pairs first.
    parts = rewarded_parts(ctx, folder, model)
    judging, trust, recorder, weights = parts.judging, parts.trust, parts.rewards.recorder, parts.rewards.weights

    with progress:
        # 6. Sample each prompt's group, reward it, and keep its best and worst answer as a pair.
        groups, choices, pairs = sample_pairs(ctx, model, dataset, parts, sampling, aggregation)
        # 6b. With [train] revision_pairs, M_t also critiques and rewrites its own answers to the round's
        #     prompts (loop/training/revision.py): each kept revision is a pair, preferred over its original.
        revisions, revised = revision_pairs(ctx, folder, model, judging, slice_indices, trust.weights)
        pairs += revised
        if is_main():
            write_jsonl(folder / "preferences.jsonl", pairs)
        # 7. Train on the pairs, the reference being M_t; then the outside view, as every round ends.
        trainer = dpo_trainer(ctx, model, args, pairs, dataset) if pairs else None
        if trainer is not None:
            with phase("training"):
                trainer.train()
        measured = measure_policy(ctx, model, judging, start_view=judging.start_view) if is_main() else None
        gate = gate_round(ctx, folder, model, judged=True) if is_main() else None  # as in GRPO

    # 8. Publish: every file in the partial folder, then one rename makes the round complete. What only
    #    sampling saw joins the movement, as in GRPO; the pairs' tally and the sampled answers' reward
    #    (GRPO logs its samples' reward while training; DPO's were all drawn before) join the summary.
    train_log = [row for row in trainer.state.log_history if "loss" in row] if trainer is not None else []
    counts = pair_counts(choices, config.train.dpo_margin, aggregation)
    if revisions is not None:
        counts["revision_pairs"] = len(revised)
    critiques = recorder.records
    sampled = sampling_check(ctx, slice_indices, critiques)
    extra = RoundExtra(summary={**sample_rewards(groups, weights), "loss": evaluate.from_log(train_log, "loss"),
                                "pairs": len(pairs)},
                       metrics={"preferences": counts, **sampled.metrics},
                       warnings=pair_warnings(r, counts) + sampled.warnings)
    result = conclude_round(ctx, folder, "dpo", measured, train_log, started, judging.judge, adapter_model=model,
                            reliability=trust.reliability, extra=extra, gate=gate,
                            no_spread=diagnostics.no_spread(critiques), guard_cut=diagnostics.guard_cut_share(critiques), clipped=clipped_share(groups))
    model.unload()  # the base weights go on to the next round without this round's LoRA layers
    del trainer
    return result


# -------------------------------------------------------------------------------------------------
# 6. Every prompt's group, sampled and rewarded, and its pair where its best and worst answers differ.
@timed("rewards")
def sample_pairs(ctx: RoundContext, model, dataset, parts, sampling, aggregation: str):
    """(groups, pair choices, pairs as preferences.jsonl keeps them). With several processes, rank 0
    alone samples and rewards; every process trains on the pairs it made."""
    from transformers import set_seed

    constitution, progress = ctx.constitution, ctx.progress
    judged = [p for p in constitution.principles if not p.is_rule]
    progress.add("sample", total=len(dataset))
    progress.add("judge", total=max(1, len(dataset) * len(judged)))
    rank = group_ranking(parts.rewards, aggregation)
    score = reward_table(parts.rewards, aggregation)
    # Seeded with the round's seed, as TRL seeds a GRPO round: the samples never depend on what the process
    # did before (a resumed run samples what an uninterrupted one does).
    set_seed(sampling.seed)
    groups = on_main(lambda: [sample_and_reward(ctx, model, row, sampling, score, parts.rewards.recorder,
                                                rank, aggregation == "rules_first") for row in dataset])
    choices = [choose_pair(g["values"], ctx.config.train.dpo_margin) for g in groups]
    ids = [p.id for p in constitution.principles]  # the reward functions' order
    pairs = [preference(ctx.number, g, c, g["values"], ids, parts.rewards.weights)
             for g, c in zip(groups, choices) if c.skipped is None]
    return groups, choices, pairs


# One prompt's group: N answers sampled as GRPOTrainer samples them, rewarded as it rewards them.
def sample_and_reward(ctx: RoundContext, model, row: dict[str, Any], sampling, score: Callable[..., list[list]],
                      recorder, rank, record_values: bool = False) -> dict[str, Any]:
    ids = sample_group(model, ctx.tokenizer, row["prompt"], sampling, ctx.config.train.greedy_member)
    stop = stop_ids(model, ctx.tokenizer)  # the recorder's cut rule, as TRL's
    texts = ctx.tokenizer.batch_decode(ids, skip_special_tokens=True)
    completions = [[{"role": "assistant", "content": text}] for text in texts]
    n = len(completions)
    # GRPOTrainer's reward call: every dataset column but prompt/completion, one value per completion,
    # and the trainer's hooks (no trainer exists yet, so they are inert).
    columns = {key: [value] * n for key, value in row.items()
               if key not in ("prompt", "completion", "completion_ids")}
    kwargs = {**columns, "trainer_state": None, "log_extra": _ignore, "log_metric": _ignore}
    per_func = score(prompts=[row["prompt"]] * n, completions=completions, completion_ids=ids, **kwargs)
    rewards = [[r[i] for r in per_func] for i in range(n)]
    values = rank(rewards)
    if record_values:
        recorder.take_totals(values)  # each record's total is the value the pair is chosen by (rules first)
    # Step 0 in critiques.jsonl: sampled before any training step; the prompt's slot is its group.
    recorder.flush(0, n, sampling.max_completion_length, across_processes=False)
    ctx.progress.advance("sample")
    return {"row": row, "texts": texts, "rewards": rewards, "values": values,
            "cut_tokens": [cut_at(answer, sampling.max_completion_length, stop) for answer in ids]}


def reward_table(rewards, aggregation: str) -> Callable[..., list[list]]:
    """A group's rewards from every principle (function order), called with TRL's arguments: under rules
    first the judges read only the answers whose judged score can move a value (loop/training/rules_first.py)."""
    if aggregation == "rules_first":
        return lambda **call: rewards.combined.rewards(across_processes=False, **call)
    return lambda **call: [func(**call) for func in rewards.funcs]


def _ignore(*args, **kwargs) -> None:
    return None


@timed("generation")
def sample_group(model, tokenizer, messages: list[dict[str, str]], sampling, greedy_member: bool = False
                 ) -> list[list[int]]:
    """num_generations answers to one conversation, with GRPOTrainer's generation settings (`sampling`
    is the round's GRPOConfig), the first one greedy with `greedy_member` (as a GRPO round's groups); each
    answer's token ids up to and including its first stop token."""
    import torch
    from transformers import GenerationConfig

    prompt = encode_chats(tokenizer, [messages])[0]
    eos = eos_ids(model, tokenizer)
    config = GenerationConfig(
        max_new_tokens=sampling.max_completion_length, do_sample=True, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=eos, temperature=sampling.temperature,
        top_p=sampling.top_p, top_k=sampling.top_k, min_p=sampling.min_p,
        repetition_penalty=sampling.repetition_penalty, **(sampling.generation_kwargs or {}))
    greedy = GenerationConfig(**{**config.to_dict(), "do_sample": False, "temperature": None, "top_p": None,
                                 "top_k": None, "min_p": None})
    count = [(greedy, int(greedy_member)), (config, sampling.num_generations - int(greedy_member))]
    was_training = model.training
    model.eval()
    answers = []
    try:
        for how, n in (c for c in count if c[1]):
            ids = torch.tensor([prompt] * n, device=model.device)
            with torch.no_grad():
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=how)
            for row in out[:, len(prompt):].tolist():
                end = next((j for j, token in enumerate(row) if token in eos), None)
                answers.append(row if end is None else row[:end + 1])  # TRL masks what follows the first stop
    finally:
        model.train(was_training)
    return answers


def group_ranking(rewards, aggregation: str):
    """The value a group's answers are ranked by, as GRPO would rank them: rules first
    (loop/training/rules_first.py), or the weighted sum under TRL's aggregation (preferences.py)."""
    if aggregation == "rules_first":
        combined = rewards.combined
        return lambda group: combine([(0, row) for row in group], combined.principles, combined.weights)
    return lambda group: ranking_values(group, rewards.weights, aggregation)


def revision_pairs(ctx: RoundContext, folder, model, judging, indices: list[int], weights: dict[str, float]
                   ) -> tuple[list[dict] | None, list[dict]]:
    """Step 6b: (the revision records, kept in revisions.jsonl, and the pairs the kept ones make); None and
    no pairs without [train] revision_pairs."""
    if not ctx.config.train.revision_pairs:
        return None, []
    records = on_main(revise_answers, ctx, model, judging, indices, weights)
    if is_main():
        write_jsonl(folder / REVISIONS_FILE, records)
    return records, revision_preferences(ctx.number, records, {index: slot for slot, index in enumerate(indices)})


@timed("revision")
def revise_answers(ctx: RoundContext, model, judging, indices: list[int], weights: dict[str, float]) -> list[dict]:
    """The revision pass of step 6b: the policy as it starts the round answers and revises, the round's
    judge (M_t's frozen copy) scores, with the weights it earned."""
    rows = revisable_rows(ctx.plan.pool, indices, len(indices))
    return revise_in_round(ctx, model, judging.judge, weights, rows, judge_view=judging.judge_view)


# -------------------------------------------------------------------------------------------------
# 6. A pair as preferences.jsonl keeps it: both answers, each principle's reward, totals and margin.
def preference(round_number: int, group: dict[str, Any], choice: PairChoice, values: list[float | None],
               ids: list[str], weights: list[float]) -> dict[str, Any]:
    """`values`: the group's ranking values (the margin is between two of them); `total`: the weighted
    reward total, as GRPO logs `reward` (the same number under TRL's default aggregation)."""
    row = group["row"]
    totals = ranking_values(group["rewards"], weights, "sum_then_normalize")

    def side(i: int) -> dict[str, Any]:
        return {"text": group["texts"][i], "sample": i, "scores": dict(zip(ids, group["rewards"][i])),
                "total": totals[i], "value": values[i], "cut_tokens": group["cut_tokens"][i]}

    chosen, rejected = side(choice.chosen), side(choice.rejected)
    record = {"round": round_number, "group": row.get("slot"), "pool_index": row.get("pool_index"),
              "prompt": user_prompt(row["prompt"]), "chosen": chosen.pop("text"), "rejected": rejected.pop("text")}
    record.update({f"chosen_{k}": v for k, v in chosen.items()})
    record.update({f"rejected_{k}": v for k, v in rejected.items()})
    record["margin"] = choice.margin
    return record


def sample_rewards(groups: list[dict[str, Any]], weights: list[float]) -> dict[str, Any]:
    """The sampled answers' reward, as GRPO logs it for its samples: the mean weighted total, its
    mean spread within a group, and the share of groups whose answers all had one total."""
    totals = [ranking_values(g["rewards"], weights, "sum_then_normalize") for g in groups]
    spreads = []
    for group in totals:
        scored = [t for t in group if t is not None]
        if len(scored) >= 2:
            m = sum(scored) / len(scored)
            spreads.append((sum((t - m) ** 2 for t in scored) / (len(scored) - 1)) ** 0.5)
    return {"reward": mean(t for group in totals for t in group), "reward_std": mean(spreads),
            "frac_zero_std": mean(float(s < 1e-9) for s in spreads)}


def clipped_share(groups: list[dict[str, Any]]) -> float | None:
    """The share of sampled answers the length limit cut (TRL's completions/clipped_ratio)."""
    cuts = [c for g in groups for c in g["cut_tokens"]]
    return sum(c is not None for c in cuts) / len(cuts) if cuts else None


def pair_warnings(round_number: int, counts: dict[str, Any]) -> list[str]:
    """One line when most prompts gave no pair: DPO had little or nothing to learn from this round."""
    missing = counts["prompts"] - counts["pairs"]
    if counts["prompts"] and missing * 2 > counts["prompts"]:
        what = "did not train" if not counts["pairs"] else f"trained on {counts['pairs']} pair(s)"
        return [f"round {round_number}: {missing} of {counts['prompts']} prompts gave no preference pair "
                f"({counts['ties']} within the margin {counts['margin']:g}, {counts['too_few_scored']} with fewer "
                f"than two scored answers): DPO {what}"]
    return []


# -------------------------------------------------------------------------------------------------
# 7. TRL's DPOTrainer on conversational pairs: the policy's system prompt and the question as the
#    prompt, the chosen and the rejected answer as assistant turns.
def dpo_trainer(ctx: RoundContext, model, args, pairs: list[dict[str, Any]], dataset):
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import DPOTrainer

    prompts = {row["slot"]: row["prompt"] for row in dataset}
    rows = [{"prompt": prompts[p["group"]], "chosen": [{"role": "assistant", "content": p["chosen"]}],
             "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in pairs]
    try:
        trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                             processing_class=ctx.tokenizer, callbacks=[step_progress(ctx.progress)])
    except (ValueError, NotImplementedError, TypeError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LoopError(f"[dpo] settings rejected by TRL's DPOTrainer: {message}", path=ctx.toml) from None
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; our progress bars and ledger say it better
    return trainer
