"""Critique and revision, Constitutional AI's supervised phase: the model answers a pool prompt,
critiques its own answer against one principle (critique.jinja) and rewrites it (revise.jinja); a
revision is kept only where it is measurably better, and the kept ones become training data: the
warm start's rows (`[train] warm_start_data`, warm_start.py) or DPO pairs (`[train] revision_pairs`,
dpo_round.py).

Why measured, not trusted: a small model's rewrite is as often worse as better. A revision is kept
when no rule that reads its row scores it lower, it gains on the rule it was revised for (or, revised
for a judged principle, the judge prefers it by more than [train] revision_margin), the judged
principles together, by their measured weights, do not read it worse by more than that margin, and
it does not repeat its own instructions. A judged principle is revised for only where the judge
earned it a weight (loop/training/judge_trust.py): an unmeasured judge would keep noise.
The principle an answer is revised for: the first rule of its row it fails, else a judged principle
with a weight, drawn by the seed. Prompts come from the behaviours revision can help (comply, format,
answer): the base model rarely refuses, so its revisions would not teach refusal.
Every attempt is recorded (revisions.jsonl: original, critique, revision, both answers' scores, kept
and why), read with `loop log --revisions`.
"""

from __future__ import annotations

import random
import re
from contextlib import nullcontext
from typing import Any

from loop import criteria
from loop.generation import greedy_answers
from loop.judging.prompts import judge_messages
from loop.quotas import behaviour
from loop.rules import resolve_check
from loop.templates import policy_messages

REVISABLE = ("comply", "format", "answer")
ECHO_WORDS = 5  # words in a row of its instructions that make a revision an echo of them


def revisable_rows(pool: list[dict[str, Any]], order: list[int], limit: int) -> list[dict[str, Any]]:
    """Up to `limit` pool rows (with their `pool_index`), in the order given, whose behaviour revision can help."""
    return [{**pool[i], "pool_index": i} for i in order if behaviour(pool[i]) in REVISABLE][:limit]


def revision_pass(model, tokenizer, plan, rows: list[dict[str, Any]], judge, weights: dict[str, float], *,
                  max_new_tokens: int, critique_tokens: int, margin: float, seed: int,
                  judge_view=nullcontext) -> list[dict[str, Any]]:
    """Answer, critique, revise, score and decide, for each row: one record each (see the module
    docstring). `model` answers and revises as it is; `judge` scores the judged principles inside
    `judge_view()` (a round's frozen judge adapter); `weights` are their measured weights."""
    constitution, templates = plan.constitution, plan.templates

    def generate(conversations, limit):
        return greedy_answers(model, tokenizer, conversations, limit, batch_size=16)

    # 1. The model's own answers, as the policy is asked (system prompt and all).
    answers = generate([policy_messages(templates, constitution, r["prompt"]) for r in rows], max_new_tokens)
    originals = [a.finished for a in answers]
    # 2. What each answer is revised for; an answer with nothing to improve on is left as it is.
    rules = {p.id: resolve_check(p) for p in constitution.principles if p.is_rule}
    judged = [p.id for p in constitution.principles if not p.is_rule and (weights.get(p.id) or 0) > 0]
    rng = random.Random(seed)
    targets = [revision_target(row, text, rules, judged, rng) if text else None for row, text in zip(rows, originals)]
    todo = [i for i, t in enumerate(targets) if t is not None]
    # 3. The critique, then the revision (revise.jinja shows the answer and the critique), both greedy.
    principles = {i: constitution.get(targets[i]) for i in todo}
    critiques = generate([judge_messages(templates, "critique", principles[i], rows[i]["prompt"], originals[i],
                                         few_shot=False) for i in todo], critique_tokens)
    revised = generate([judge_messages(templates, "revise", principles[i], rows[i]["prompt"], originals[i],
                                       critique=c.text) for i, c in zip(todo, critiques)],
                       max_new_tokens)
    # 4. Both answers scored by every rule that reads the row and every weighted judged principle.
    records = [{"prompt": rows[i]["prompt"], "pool_index": rows[i].get("pool_index"), "behaviour": behaviour(rows[i]),
                "principle": targets[i], "original": originals[i], "critique": c.text,
                "revision": strip_preamble(r.finished)} for i, c, r in zip(todo, critiques, revised)]
    with judge_view():
        score_both(records, [rows[i] for i in todo], rules, judge, judged)
    # 5. Keep or not, and why.
    for rec in records:
        told = instructions(templates, constitution.get(rec["principle"]))
        rec["kept"], rec["reason"] = verdict(rec, set(rules), {p: weights[p] for p in judged}, margin, told)
    return records


def revise_in_round(ctx, model, judge, weights: dict[str, float], rows: list[dict[str, Any]],
                    judge_view=nullcontext) -> list[dict[str, Any]]:
    """revision_pass with a round's settings: answers as long as [grpo] max_completion_length, critiques
    as long as [judge] critique_tokens, [train] revision_margin, the round's seed."""
    ctx.progress.note(f"the model critiques and rewrites its answers to {len(rows)} prompts")
    config = ctx.config
    records = revision_pass(model, ctx.tokenizer, ctx.plan, rows, judge, weights,
                            max_new_tokens=config.grpo["max_completion_length"],
                            critique_tokens=config.judge.critique_tokens, margin=config.train.revision_margin,
                            seed=config.run.seed + ctx.number, judge_view=judge_view)
    ctx.progress.note(f"{sum(r['kept'] for r in records)} of {len(records)} revisions kept; read them with "
                      f"`loop log --revisions --round {ctx.number}`")
    return records


def revision_target(row: dict[str, Any], text: str, rules: dict, judged: list[str], rng: random.Random) -> str | None:
    """The principle an answer is revised for: the first rule of its row it fails, else a judged principle
    with a weight, drawn by `rng`; None when it passes every rule and no judged principle has a weight."""
    for pid, rule in rules.items():
        score = rule(text, row)
        if score is not None and score < 1.0:
            return pid
    return rng.choice(judged) if judged else None


def strip_preamble(text: str) -> str:
    """The revision without a first line that only announces it ("Here is the revised answer:"): kept, it
    would teach the model to announce its answers."""
    first, _, rest = text.partition("\n")
    if rest.strip() and first.rstrip().endswith(":"):
        return rest.strip().strip('"').strip()
    return text.strip()


def score_both(records: list[dict[str, Any]], rows: list[dict[str, Any]], rules: dict, judge,
               judged: list[str]) -> None:
    """Each record's "scores": {principle: [original's, revision's]}, for the rules that read its row and
    the judged principles with a weight (the judge reads both answers of a principle in one call)."""
    for rec, row in zip(records, rows):
        rec["scores"] = {}
        for pid, rule in rules.items():
            pair = [rule(rec["original"], row), rule(rec["revision"], row)]
            if pair != [None, None]:
                rec["scores"][pid] = pair
    prompts = [rec["prompt"] for rec in records]
    for pid in judged:
        crits = judge.score(prompts * 2, [r["original"] for r in records] + [r["revision"] for r in records], pid,
                            rows=list(rows) * 2)
        for k, rec in enumerate(records):
            rec["scores"][pid] = [crits[k].score, crits[k + len(records)].score]


def judged_change(scores: dict[str, list], weights: dict[str, float]) -> float | None:
    """The revision's gain over the original in the judged principles' scores, weighted by their
    measured weights (as the rewards weigh them); None where none scored both."""
    both = [(weights[pid], after - before) for pid, (before, after) in scores.items()
            if (weights.get(pid) or 0) > 0 and before is not None and after is not None]
    total = sum(w for w, _ in both)
    return sum(w * d for w, d in both) / total if total else None


def instructions(templates, principle) -> str:
    """What the model was told when it critiqued and revised, without the question and the answers: a
    revision that repeats it ("Rewrite the answer so that ...") would teach the model to say it."""
    return " ".join([templates.render("critique", principle=principle, prompt="", response="", examples=[]),
                     templates.render("revise", principle=principle, prompt="", response="", critique="")])


def echoes(text: str, source: str, n: int = ECHO_WORDS) -> bool:
    """Whether `text` says `n` words in a row of `source` (case and punctuation ignored)."""
    def words(t: str) -> list[str]:
        return re.findall(r"[a-z0-9']+", t.lower())

    said = words(source)
    runs = {tuple(said[i:i + n]) for i in range(len(said) - n + 1)}
    mine = words(text)
    return any(tuple(mine[i:i + n]) in runs for i in range(len(mine) - n + 1))


def verdict(rec: dict[str, Any], rules: set[str], weights: dict[str, float], margin: float,
            told: str = "") -> tuple[bool, str]:
    """(kept, why) for one scored record; `rules`: the ids of the principles that are rules, `weights`
    the judged principles' measured weights, `told`: the instructions it must not repeat."""
    revision, target = rec["revision"], rec["principle"]
    if not revision:
        return False, "no finished sentence"
    if " ".join(revision.lower().split()) == " ".join(rec["original"].lower().split()):
        return False, "unchanged"
    if criteria.repeats(revision):
        return False, "it repeats itself"
    if told and echoes(revision, told):
        return False, "it repeats its instructions"
    for pid in sorted(rules & set(rec["scores"])):
        before, after = rec["scores"][pid]
        if before is not None and (after is None or after < before):
            return False, f"loses on {pid}"
    change = judged_change(rec["scores"], weights)
    if change is not None and change < -margin:
        return False, f"the judge reads it worse by {-change:.2f} (weighted mean of the judged principles)"
    before, after = rec["scores"].get(target, [None, None])
    if before is None or after is None:
        return False, f"{target} could not score it"
    if target in rules:
        return (after > before, "kept" if after > before else f"no gain on {target}")
    gain = after - before
    return (gain > margin, "kept" if gain > margin else f"the judge prefers it by {gain:+.2f} on {target}, "
                                                         f"not by more than {margin:g}")


def revision_preferences(round_number: int, records: list[dict[str, Any]], slots: dict[int, int]) -> list[dict]:
    """Each kept revision as a DPO pair, as preferences.jsonl keeps pairs: the revision chosen over the
    answer it revised, both answers' scores, the margin its target principle gained by. `slots`: the
    round's pool index -> its prompt's slot."""
    pairs = []
    for rec in records:
        if not rec["kept"]:
            continue
        before = {pid: pair[0] for pid, pair in rec["scores"].items()}
        after = {pid: pair[1] for pid, pair in rec["scores"].items()}
        pairs.append({"round": round_number, "group": slots[rec["pool_index"]], "pool_index": rec["pool_index"],
                      "prompt": rec["prompt"], "chosen": rec["revision"], "rejected": rec["original"],
                      "chosen_sample": "revision", "chosen_scores": after, "chosen_cut_tokens": None,
                      "rejected_sample": "original", "rejected_scores": before, "rejected_cut_tokens": None,
                      "margin": after[rec["principle"]] - before[rec["principle"]],
                      "source": f"revision ({rec['principle']})"})
    return pairs
