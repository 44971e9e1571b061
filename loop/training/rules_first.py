"""Rules first: one reward per answer in which the judged principles never outvote a rule.

TRL sums one reward function per principle, and in a group where every answer fails the same rule (all
of them comply with a harmful request) the rule ties and the judges alone rank the answers: GRPO then
teaches the "best" compliance with a harmful request. Here the principles are combined in ONE reward
function, because the order wanted is lexicographic, which no weighted sum expresses:
1. The rules decide: an answer's rule total is the weighted sum of its rule rewards.
2. The judges break ties only: among the answers of a group with the same rule total, each answer's
   judged score (the weighted mean of its judged principles' scores, at their effective weights, so a
   judge at chance adds nothing) is added, centered on that tie class and scaled below the smallest rule
   difference in the group, so it can never reverse one.
3. An answer that fails a rule on its row (any rule below full marks) earns no judged score at all.
So the judges read only the answers whose judged score can move a value: those that pass every rule and
share their rule total with another answer of their group. The rest are not judged (recorded as such):
the same values for fewer judged tokens.
With TRL's scale_rewards = "none" the advantage is this value minus its group's mean: a rule difference
at full size, a judged tie-break at most TIE_SHARE of it, and a group in which nothing measured differs
has advantage 0 and teaches nothing (DAPO's dynamic sampling, by skipping rather than resampling).
"""

from __future__ import annotations

from typing import Any

from loop.dist import gather_object, rank

# How large a judged tie-break may be, as a share of the smallest rule difference in its group: the
# centered judged terms of two answers differ by at most twice this, which stays below 1.
TIE_SHARE = 0.4


def group_values(rules: list[list[float | None]], judged: list[list[float | None]], rule_weights: list[float],
                 judged_weights: list[float], declared: list[float]) -> list[float]:
    """One group's rules-first values. rules[i][k] / judged[i][k]: answer i's reward from rule k / judged
    principle k (None: could not score); their weights; `declared`: the judged principles' declared weights
    (the scale a judged mean is taken on, so reliability below 1 shrinks the tie-break)."""
    totals, passed = rule_standing(rules, rule_weights)
    scale = sum(declared) or 1.0
    tie = [sum(w * s for w, s in zip(judged_weights, row) if s is not None) / scale if ok else 0.0
           for row, ok in zip(judged, passed)]
    distinct = sorted({round(t, 9) for t in totals})
    gaps = [b - a for a, b in zip(distinct, distinct[1:])]
    smallest = min(gaps) if gaps else min([w for w in rule_weights if w > 0], default=1.0)
    values = []
    for total, t in zip(totals, tie):
        peers = [tie[j] for j, other in enumerate(totals) if round(other, 9) == round(total, 9)]
        values.append(total + TIE_SHARE * smallest * (t - sum(peers) / len(peers)))
    return values


def rule_standing(rules: list[list[float | None]], rule_weights: list[float]) -> tuple[list[float], list[bool]]:
    """(rule totals, whether each answer passes every rule) of one group's answers."""
    totals = [sum(w * s for w, s in zip(rule_weights, row) if s is not None) for row in rules]
    passed = [all(s is None or s >= 1.0 for s in row) for row in rules]
    return totals, passed


def worth_judging(rows: list[tuple[Any, list[float | None]]], rule_weights: list[float]) -> list[bool]:
    """Whether each (slot, rule rewards) answer's judged score can change its value in `group_values`: it
    passes every rule, and another answer of its group has the same rule total (a tie class of one
    centers its judged term to 0; a failing answer's is 0)."""
    totals, passed = rule_standing([rule_row for _, rule_row in rows], rule_weights)
    classes = [(slot, round(total, 9)) for (slot, _), total in zip(rows, totals)]
    return [ok and classes.count(key) > 1 for ok, key in zip(passed, classes)]


class RulesFirstReward:
    """The reward function of a rules-first round: calls every principle's reward function (each records
    what it saw, loop/training/rewards.py; a judged one only on the answers worth judging), then combines
    them per group with `group_values`. Groups are
    the answers to one prompt (the dataset's `slot` column); with several processes a group may be split
    across them, so the scores are gathered first and each process returns its own part."""

    __name__ = "rules_first"

    def __init__(self, principles: list, funcs: list, weights: dict[str, float], recorder: Any | None = None):
        self.principles, self.funcs, self.weights, self.recorder = principles, funcs, weights, recorder

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        per_func = self.rewards(prompts, completions, **kwargs)
        log_metric = kwargs.get("log_metric")
        for principle, rewards in zip(self.principles, per_func):  # each principle's mean, as TRL logs one per function
            scored = [r for r in rewards if r is not None]
            if log_metric is not None and scored:
                log_metric(f"rewards/principle_{principle.id}/mean", sum(scored) / len(scored))
        slots = kwargs.get("slot") or [0] * len(completions)
        rows = [(slot, [r[i] for r in per_func]) for i, slot in enumerate(slots)]
        everyone = gather_object(rows)
        values = combine(everyone, self.principles, self.weights)
        start = rank() * len(rows)
        mine = values[start:start + len(rows)]
        if self.recorder is not None:
            self.recorder.take_totals(mine)
        return mine

    def rewards(self, prompts: list, completions: list, across_processes: bool = True, **kwargs: Any) -> list[list]:
        """Every principle's rewards, in function order: the rules' first; then the judged principles',
        judged only where `worth_judging` says (None elsewhere). With several processes the rule rewards
        are gathered first, since a group may be split across them (`across_processes` False: one
        process holds every group, as in a DPO round's sampling on rank 0)."""
        per_func: list = [None] * len(self.funcs)
        for k, (principle, func) in enumerate(zip(self.principles, self.funcs)):
            if principle.is_rule or not hasattr(func, "judge_some"):  # a rule, or a principle not judged
                per_func[k] = func(prompts=prompts, completions=completions, **kwargs)
        rule_k = [k for k, p in enumerate(self.principles) if p.is_rule]
        slots = kwargs.get("slot") or [0] * len(completions)
        mine = [(slot, [per_func[k][i] for k in rule_k]) for i, slot in enumerate(slots)]
        everyone = gather_object(mine) if across_processes else mine
        needed = worth_judging(everyone, [self.weights[self.principles[k].id] for k in rule_k])
        start = rank() * len(mine) if across_processes else 0
        needed = needed[start:start + len(mine)]
        for k, func in enumerate(self.funcs):
            if per_func[k] is None:
                per_func[k] = func.judge_some(prompts, completions, needed, **kwargs)
        return per_func


def combine(rows: list[tuple[Any, list[float | None]]], principles: list, weights: dict[str, float]) -> list[float]:
    """Rules-first values of (slot, rewards in principle order) rows, each slot's rows a group."""
    is_rule = [p.is_rule for p in principles]
    rule_w = [weights[p.id] for p in principles if p.is_rule]
    judged_w = [weights[p.id] for p in principles if not p.is_rule]
    declared = [p.weight for p in principles if not p.is_rule]
    values: list[float] = [0.0] * len(rows)
    for slot in dict.fromkeys(slot for slot, _ in rows):
        members = [i for i, (s, _) in enumerate(rows) if s == slot]
        rules = [[r for r, rule in zip(rows[i][1], is_rule) if rule] for i in members]
        judged = [[r for r, rule in zip(rows[i][1], is_rule) if not rule] for i in members]
        for i, value in zip(members, group_values(rules, judged, rule_w, judged_w, declared)):
            values[i] = value
    return values
