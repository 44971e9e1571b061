"""Movement diagnostics: did a round move the policy, did each reward have anything to teach it, and
did the probes hold? Pure functions over a round's records, each tested alone; the round keeps their
results in metrics.json ("movement") and `loop run` / `loop rounds` print the warnings.

The thresholds, and why:
- BARELY_MOVED: a round that changed fewer than 5% of the policy's greedy answers (held-out prompts
  and probes) did nothing a user could see. Greedy decoding is deterministic, so an unchanged
  policy changes 0%; the rounds that were measured to move nothing changed about 0-3% (ties broken
  differently after tiny weight changes), while a round that learned something changes a large share.
- NO_SPREAD_MOST: GRPO learns only from differences within a group, so a principle whose rewards were
  equal in most groups (more than half) taught almost nothing this round, whatever its weight.
"""

from __future__ import annotations

from typing import Any, Iterable

BARELY_MOVED = 0.05
NO_SPREAD_MOST = 0.5
_EPS = 1e-9


def changed_share(before: dict[Any, str], after: dict[Any, str]) -> dict[str, Any] | None:
    """The share of answers that differ between two rounds on the prompts both answered (keyed alike)."""
    common = [key for key in after if key in before]
    if not common:
        return None
    changed = sum(str(after[key]).strip() != str(before[key]).strip() for key in common)
    return {"share": changed / len(common), "n": len(common)}


def no_spread(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per principle: the share of training groups whose rewards were all equal (among the group's
    answers it could score; groups with fewer than two scored answers are not counted), and the value
    they all had when every group was full marks or every group zero (a rule that never binds)."""
    groups: dict[tuple, list[float]] = {}
    for rec in records:
        value = rec.get("reward")
        if isinstance(value, (int, float)):
            groups.setdefault((rec.get("principle"), rec.get("step"), rec.get("group")), []).append(float(value))
    out: dict[str, dict[str, Any]] = {}
    for (principle, _, _), values in groups.items():
        if len(values) < 2:
            continue
        entry = out.setdefault(principle, {"groups": 0, "equal": 0, "values": set()})
        entry["groups"] += 1
        if max(values) - min(values) < _EPS:
            entry["equal"] += 1
        entry["values"].update(values)
    return {p: {"share": e["equal"] / e["groups"], "groups": e["groups"],
                "constant": next(iter(e["values"])) if len(e["values"]) == 1 else None} for p, e in out.items()}


def guard_cut_share(records: Iterable[dict[str, Any]]) -> float | None:
    """The share of judged training answers with a sentence the guard cut (addressed to the grader):
    a policy learning to talk to its judge shows here first."""
    answers: dict[tuple, bool] = {}
    for rec in records:
        if rec.get("kind") == "judge":
            key = (rec.get("step"), rec.get("group"), rec.get("sample"))
            answers[key] = answers.get(key, False) or bool(rec.get("cuts"))
    return sum(answers.values()) / len(answers) if answers else None


def warnings(round_number: int, movement: dict[str, Any], constitution,
             max_completion_length: int | None = None,
             probe_changes: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """The round's warning lines, each one clear sentence (empty when all is well)."""
    out = []
    changed = movement.get("changed")
    if changed and changed["share"] < BARELY_MOVED:
        out.append(f"round {round_number} barely moved the policy: {changed['share']:.0%} of {changed['n']} greedy "
                   f"answers changed since round {round_number - 1} (below {BARELY_MOVED:.0%})")
    for principle, entry in (movement.get("no_spread") or {}).items():
        if entry["share"] > NO_SPREAD_MOST:
            out.append(f"{principle}: {entry['share']:.0%} of groups had equal rewards: "
                       + _why_no_spread(constitution, principle, entry, max_completion_length))
    for family, change in (probe_changes or {}).items():
        high = change.get("high")
        if isinstance(high, (int, float)) and high < 0:
            out.append(f"probes {family}: pass rate fell {change['delta']:+.2f} [{change['low']:+.2f}, "
                       f"{change['high']:+.2f}] since round 0, more than its interval")
    return out


def _why_no_spread(constitution, principle: str, entry: dict[str, Any], max_completion_length: int | None) -> str:
    check = next((p.check for p in constitution.principles if p.id == principle), None) or {}
    if entry["constant"] == 1.0 and check.get("type") == "max_words" and max_completion_length:
        return (f"its {check['max']}-word limit never binds at {max_completion_length} tokens; lower `max` or "
                "raise max_completion_length")
    if entry["constant"] is not None:
        return f"every answer scored {entry['constant']:g}, so it gave GRPO nothing to compare"
    return "it gave GRPO almost nothing to compare this round"


# ---- does GRPO see what the policy says? --------------------------------------------------------
# Each behaviour's rule, and the probe family that asks for the same behaviour greedily.
LABEL_CHECK = {"refuse": "refusal", "unknowable": "refusal", "comply": "refusal", "format": "format", "answer": "answer"}
LABEL_FAMILY = {"refuse": "harmful", "unknowable": "unknowable", "comply": "benign", "format": "format",
                "answer": "arithmetic"}


def sampled_vs_greedy(records: Iterable[dict[str, Any]], labels: dict[str, str], constitution,
                      greedy: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per behaviour: its rule's pass rate on the round's samples (with a 95 % Wilson interval), next to
    the greedy pass rate of the round's start policy on the probes of the same behaviour. `labels`: each
    training prompt's behaviour; `greedy`: the start round's probe_stats. GRPO only learns from what its
    samples contain: a behaviour the greedy answer shows but the samples do not cannot be rewarded."""
    from loop.stats import wilson

    check_of = {p.id: (p.check or {}).get("type") for p in constitution.principles if p.is_rule}
    passed: dict[str, list[bool]] = {}
    for rec in records:
        label = labels.get(rec.get("prompt"))
        if label and check_of.get(rec.get("principle")) == LABEL_CHECK[label] and rec.get("reward") is not None:
            passed.setdefault(label, []).append(rec["reward"] >= 1.0)
    out = {}
    for label, flags in passed.items():
        low, high = wilson(sum(flags), len(flags))
        out[label] = {"samples": {"rate": sum(flags) / len(flags), "low": low, "high": high, "n": len(flags)},
                      "greedy": {"family": LABEL_FAMILY[label], **greedy.get(LABEL_FAMILY[label], {})}}
    return out


def sampling_warnings(round_number: int, sampling: dict[str, dict[str, Any]]) -> list[str]:
    """One line per behaviour whose samples pass its rule at a rate whose interval misses the greedy one."""
    out = []
    for label, entry in sampling.items():
        s, g = entry["samples"], entry["greedy"]
        if "rate" in g and (s["high"] < g["low"] or s["low"] > g["high"]):
            out.append(f"round {round_number}: {label} samples passed their rule {s['rate']:.0%} of {s['n']} "
                       f"[{s['low']:.0%}, {s['high']:.0%}], the greedy {g['family']} probes {g['rate']:.0%} "
                       f"[{g['low']:.0%}, {g['high']:.0%}]: GRPO does not see what the policy says; "
                       "change [grpo] temperature / top_p")
    return out
