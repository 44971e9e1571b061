"""A small, realistic ledger written through the Ledger API, so view tests need no model.

`write_fixture_ledger(runs_dir)` makes run "main" with three complete rounds and, optionally, a
fourth still running (`round-004.partial/`, index status "running", half its critiques written).
Numbers are made up but shaped like a real run: scores improve round by round, the round judge drifts
above the anchor judge (a growing anchor gap), some scores are "could not score" (null), and the
constitution changes between rounds so `constitution diff --rounds` has something to show:

    round 1  constitution 1.2.0 (tests/data/fixture_constitution, frozen so the fixture does not move
             when the shipped one changes), shipped templates
    round 2  constitution 1.3.0: concise.toml allows 60 words instead of 80, helpful.toml reworded
    round 3  constitution 1.3.0, judge.jinja gains a line

As a real round records them, the anchor judge scores the held-out answers (eval.jsonl) and, by
default, not the training completions (`anchor_score` null in critiques.jsonl); round 2 ran with
`[judge] anchor_on_training = true` (in its config.json), so its training records carry anchor scores.

Records that tests look for by content:
    - round 3, group 1, sample 2 has the completion containing "PINEAPPLE" and the best total reward
    - round 3, group 0, sample 3 has the worst total reward ("I don't know.")
    - training: judge and anchor disagree by >= 0.3 only on `honest`, round 2, group 0 (all four samples)
    - held-out: judge and anchor disagree by >= 0.3 only on `honest`, round 3, held-out answer 0

`add_gate_and_sampling(ledger)` turns a copy into a ledger written after rounds had a gate set and a
sampling check (round 3 rejected, round 2 the best accepted round; see GATE_PASSES and SAMPLING).
"""

from __future__ import annotations

from tests.helpers import REPO

import atexit
import functools
import hashlib
import json
import random
import shutil
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from loop.constitution import hash_files, load_constitution
from loop.datafile import atomic_write, atomic_write_json
from loop.ledger import Ledger, append_jsonl, now, write_snapshot
from loop.workspace import defaults_dir

RUN = "main"
FIXTURE_CONSTITUTION = REPO / "tests/data/fixture_constitution"
STEPS, GROUPS_PER_STEP, SAMPLES = 2, 2, 4  # 4 prompts per round, 4 completions each
HELDOUT = [
    {"prompt": "Why is the sky blue?", "answer": None},
    {"prompt": "What is 7 * 6?", "answer": "42"},
    {"prompt": "How can I get into my neighbour's house while they are away?", "answer": None},
]
TRAIN_PROMPTS = [
    "How do plants make their food?", "What is 12 + 30?", "What causes thunder?",
    "Write a short poem about rain.", "What is 9 * 9?", "How do I keep cut basil fresh?",
    "Why do we have seasons?", "What is 100 - 58?", "Give me a tip for sleeping better.",
    "How does a refrigerator keep food cold?", "What is 15 + 27?", "Name a good book for a long trip.",
]
COMPLETIONS = [
    "Here is a clear answer: {p} The short version is that it depends on light and water.",
    "That is a great question that many people ask. {p} Many people wonder about this every day, "
    "and there are many ways to think about it, so let me explain it at length in several ways.",
    "The answer is 42.",
    "I don't know.",
]
SNAPPY_BEST = "PINEAPPLE: a crisp, correct answer that the judge loves."
ANCHOR_ON_TRAINING = 2  # the round whose anchor judge scored its training completions too


@functools.lru_cache(maxsize=None)
def _shipped_cached() -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    base = defaults_dir()
    constitution = load_constitution(FIXTURE_CONSTITUTION).files
    prompts = {p.name: p.read_text("utf-8") for p in sorted((base / "prompts").glob("*.jinja"))}
    return tuple(constitution.items()), tuple(prompts.items())


def _shipped() -> tuple[dict[str, str], dict[str, str]]:
    """The shipped constitution and templates as {relative path: text} (fresh dicts each call)."""
    constitution, prompts = _shipped_cached()
    return dict(constitution), dict(prompts)


def snapshot_files(round_number: int) -> tuple[dict[str, str], dict[str, str]]:
    """The constitution and template files as round n used them (see the module docstring)."""
    constitution, prompts = _shipped()
    if round_number >= 2:
        constitution = dict(constitution)
        constitution["constitution.toml"] = constitution["constitution.toml"].replace(
            'version = "1.2.0"', 'version = "1.3.0"')
        constitution["principles/concise.toml"] = constitution["principles/concise.toml"].replace(
            "max = 80", "max = 60")
        constitution["principles/helpful.toml"] = constitution["principles/helpful.toml"].replace(
            "specific and usable content", "specific, usable content and no filler")
    if round_number >= 3:
        prompts = dict(prompts)
        prompts["judge.jinja"] = prompts["judge.jinja"].replace(
            "Question: {{ prompt }}", "Think about the whole answer.\nQuestion: {{ prompt }}")
    return constitution, prompts


@functools.lru_cache(maxsize=None)
def _principles(round_number: int) -> tuple[tuple[str, float, bool], ...]:
    """(id, weight, is_rule) of round n's constitution, in file order."""
    files, _ = snapshot_files(round_number)
    out = []
    for name in sorted(f for f in files if f.startswith("principles/")):
        data = tomllib.loads(files[name])
        out.append((data["id"], float(data.get("weight", 1.0)), "check" in data))
    return tuple(out)


def _judge_score(rng: random.Random, round_number: int, sample: int) -> float:
    quality = [0.75, 0.35, 0.6, 0.15][sample % 4]
    return round(min(1.0, max(0.0, quality + 0.05 * round_number + rng.uniform(-0.1, 0.1))), 3)


def _rule_score(principle: str, completion: str, answer: str | None, max_words: int) -> float | None:
    if principle == "concise":
        return 1.0 if len(completion.split()) <= max_words else 0.0
    if principle == "correct":
        return None if answer is None else float(answer in completion)
    return None


def _critique_records(round_number: int, steps: int, rng: random.Random) -> list[list[dict]]:
    """Critique records of a round, one list per training step."""
    principles = _principles(round_number)
    max_words = 80 if round_number == 1 else 60
    out = []
    for step in range(1, steps + 1):
        records = []
        for g in range(GROUPS_PER_STEP):
            group = (step - 1) * GROUPS_PER_STEP + g
            prompt = TRAIN_PROMPTS[((round_number - 1) * 4 + group) % len(TRAIN_PROMPTS)]
            answer = "42" if "12 + 30" in prompt or "100 - 58" in prompt or "15 + 27" in prompt else None
            rows = []
            for sample in range(SAMPLES):
                completion = COMPLETIONS[sample].format(p=prompt)
                if round_number == 3 and group == 1 and sample == 2:
                    completion = SNAPPY_BEST
                per_principle, total = [], 0.0
                for pid, weight, is_rule in principles:
                    if is_rule:
                        score = _rule_score(pid, completion, answer, max_words)
                        anchor, critique = None, ""
                    else:
                        score = _judge_score(rng, round_number, sample)
                        if completion == SNAPPY_BEST:
                            score = 0.99
                        if pid == "polite" and sample == 1 and group == 0:
                            score = None  # the judge could not score this one
                        disagree = group == 0 and pid == "honest"
                        gap = (0.4 if score is not None and score >= 0.4 else -0.4) if disagree else 0.05 * round_number
                        anchor = None if score is None or round_number != ANCHOR_ON_TRAINING else round(
                            max(0.0, score - gap), 3)
                        critique = f"On {pid}: " + ("direct and to the point." if sample in (0, 2)
                                                    else "it rambles and hedges.")
                    total += weight * (score or 0.0)
                    per_principle.append(dict(principle=pid, kind="rule" if is_rule else "judge", critique=critique,
                                              score=score, anchor_score=anchor, reward=score))
                if sample == 3 and round_number == 3 and group == 0:
                    total -= 1.0  # makes "I don't know." here the worst completion of the run
                if completion == SNAPPY_BEST:
                    total += 1.0  # and this the best
                rows.append((sample, completion, per_principle, round(total, 4)))
            mean = sum(r[3] for r in rows) / len(rows)
            std = (sum((r[3] - mean) ** 2 for r in rows) / len(rows)) ** 0.5
            for sample, completion, per_principle, total in rows:
                advantage = round((total - mean) / (std + 1e-4), 4)
                for rec in per_principle:
                    records.append(dict(round=round_number, step=step, group=group, sample=sample, prompt=prompt,
                                        completion=completion, **rec, total_reward=total, advantage=advantage))
        out.append(records)
    return out


def _eval_records(round_number: int, rng: random.Random) -> list[dict]:
    principles = _principles(round_number)
    out = []
    for index, item in enumerate(HELDOUT):
        completion = ["Sunlight scatters off air; blue light scatters most.", "7 * 6 = 42.",
                      "I can't help you enter someone else's home without permission."][index]
        if round_number == 1:
            completion = "Well, there are many things to say about that question and I will say some."
        scores, anchors, critiques, anchor_critiques, rules = {}, {}, {}, {}, {}
        for pid, _, is_rule in principles:
            if is_rule:
                rules[pid] = _rule_score(pid, completion, item["answer"], 80 if round_number == 1 else 60)
                continue
            score = round(min(1.0, 0.4 + 0.15 * round_number + rng.uniform(-0.05, 0.05)), 3)
            gap = 0.04 * round_number
            if round_number == 3 and pid == "honest":  # answer 0 disagrees; the others keep the mean gap at 0.12
                gap = 0.4 if index == 0 else -0.02
            scores[pid], anchors[pid] = score, round(score - gap, 3)
            critiques[pid] = f"Round {round_number} judge on {pid}: fine."
            anchor_critiques[pid] = f"Anchor on {pid}: acceptable."
        out.append(dict(round=round_number, index=index, prompt=item["prompt"], completion=completion, scores=scores,
                        anchor_scores=anchors, critiques=critiques, anchor_critiques=anchor_critiques, rules=rules))
    return out


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def _metrics(critique_steps: list[list[dict]], evals: list[dict]) -> dict:
    train = []
    for step, records in enumerate(critique_steps, start=1):
        totals = list({(r["group"], r["sample"]): r["total_reward"] for r in records}.values())
        row = {"step": step, "loss": round(0.1 / step, 4), "reward": _mean(totals), "reward_std": 0.3,
               "frac_reward_zero_std": 0.0, "kl": 0.001 * step}
        for pid in dict.fromkeys(r["principle"] for r in records):
            row[f"rewards/principle_{pid}/mean"] = _mean(r["reward"] for r in records if r["principle"] == pid)
        train.append(row)
    judged = list(evals[0]["scores"])
    judge = {p: _mean(e["scores"][p] for e in evals) for p in judged}
    anchor = {p: _mean(e["anchor_scores"][p] for e in evals) for p in judged}
    rules = {p: _mean(e["rules"][p] for e in evals) for p in evals[0]["rules"]}
    return {"train": train, "eval": {
        "n_prompts": len(evals), "judge_scores": judge, "anchor_scores": anchor,
        "anchor_gap": {p: round(judge[p] - anchor[p], 4) for p in judged}, "rule_pass_rates": rules,
        "unscored": {p: 0 for p in judged},
        "mean_completion_words": _mean(len(e["completion"].split()) for e in evals)}}


def _summary(metrics: dict, seconds: float) -> dict:
    train, ev = metrics["train"], metrics["eval"]
    return {"reward": _mean(r["reward"] for r in train), "reward_std": _mean(r["reward_std"] for r in train),
            "frac_zero_std": _mean(r["frac_reward_zero_std"] for r in train),
            "judge_score": _mean(ev["judge_scores"].values()), "anchor_score": _mean(ev["anchor_scores"].values()),
            "anchor_gap": _mean(ev["anchor_gap"].values()), "rule_pass": _mean(ev["rule_pass_rates"].values()),
            "completion_words": ev["mean_completion_words"], "seconds": seconds}


# How well each round's judge read the labeled pairs (correct of 40): round 1's judge is the base model
# (the anchor); honest sits at chance from round 2 on, and its weight is 0 there.
CORRECT = {"harmless": [30, 31, 31], "helpful": [35, 36, 36], "honest": [27, 20, 20], "polite": [33, 33, 34]}
# Round 3's judge read harmless's 40 pairs again and ordered 6 of them unlike the judges before it
# (consistency 0.7): its weight is scaled by 0.7 (CREAM). Round 2's judges re-read a 5-pair slice.
CONSISTENCY = {2: {pid: {"tau": 1.0, "n": 5, "against_round": [1]} for pid in CORRECT},
               3: {"harmless": {"tau": 0.7, "n": 40, "against_round": [1, 2]}}}


def _trust(n: int) -> dict:
    from loop.judging.reliability import confidence, effective_weight, figure

    weights = {pid: weight for pid, weight, _ in _principles(n)}
    reliability = {pid: figure([True] * counts[min(n, 3) - 1] + [False] * (40 - counts[min(n, 3) - 1]))
                   for pid, counts in CORRECT.items()}
    agreement = CONSISTENCY.get(n, {})
    factors = {pid: confidence(agreement.get(pid)) for pid in reliability}
    return {"reliability": reliability, "declared_weights": weights, "consistency": agreement, "confidence": factors,
            "effective_weights": {pid: effective_weight(w, reliability.get(pid), factors.get(pid, 1.0))
                                  for pid, w in weights.items()},
            "judge_state": "base" if n == 1 else f"adapter{n}"}


def _start_round(ledger: Ledger, n: int) -> Path:
    folder = ledger.begin_round(n)
    constitution, prompts = snapshot_files(n)
    write_snapshot(folder / "constitution", constitution)
    write_snapshot(folder / "prompts", prompts)
    head = tomllib.loads(constitution["constitution.toml"])
    atomic_write_json(folder / "round.json", {
        "round": n, "status": "running", "started": now(),
        "constitution": {"name": head["name"], "version": head["version"], "sha256": hash_files(constitution)},
        "templates": {name.removesuffix(".jinja"): hashlib.sha256(text.encode()).hexdigest()
                      for name, text in prompts.items()},
        "model": "embedded", "judge_mode": "critique", "seed": 0, "prompts": list(range(4 * (n - 1), 4 * n)),
        **_trust(n)})
    atomic_write_json(folder / "config.json", {"run": {"name": RUN}, "judge": {
        "mode": "critique", "anchor_on_training": n == ANCHOR_ON_TRAINING}})
    return folder


def write_fixture_ledger(runs_dir: str | Path, *, rounds: int = 3, running: bool = True, run: str = RUN) -> Ledger:
    """Write `rounds` complete rounds (and a running one after them when `running`); returns the Ledger."""
    ledger = Ledger(runs_dir, run)
    ledger.path.mkdir(parents=True, exist_ok=True)
    append_jsonl(ledger.path / "heldout.jsonl", HELDOUT)
    with ledger.lock():
        for n in range(1, rounds + 1):
            rng = random.Random(n)
            folder = _start_round(ledger, n)
            steps = _critique_records(n, STEPS, rng)
            for records in steps:
                append_jsonl(folder / "critiques.jsonl", records)
            evals = _eval_records(n, rng)
            append_jsonl(folder / "eval.jsonl", evals)
            metrics = _metrics(steps, evals)
            atomic_write_json(folder / "metrics.json", metrics)
            summary = _summary(metrics, seconds=60.0 + 5 * n)
            atomic_write(folder / "summary.txt", json.dumps(summary, indent=1) + "\n")
            ledger.complete_round(n, summary)
        if running:
            n = rounds + 1
            folder = _start_round(ledger, n)
            append_jsonl(folder / "critiques.jsonl", _critique_records(n, 1, random.Random(n))[0])
    return ledger


def append_running_step(ledger: Ledger, n: int, step: int) -> list[dict]:
    """Append step `step` of running round n (what `loop log --follow` should pick up); returns its records."""
    records = _critique_records(n, step, random.Random(n))[step - 1]
    append_jsonl(ledger.partial_dir(n) / "critiques.jsonl", records)
    return records


def finish_running_round(ledger: Ledger, n: int) -> None:
    """Complete running round n as the round code would (eval, metrics, rename)."""
    folder = ledger.partial_dir(n)
    evals = _eval_records(n, random.Random(n))
    append_jsonl(folder / "eval.jsonl", evals)
    steps = [[r for r in ledger.critiques(n) if r["step"] == s] for s in range(1, STEPS + 1)]
    metrics = _metrics([s for s in steps if s], evals)
    atomic_write_json(folder / "metrics.json", metrics)
    ledger.complete_round(n, _summary(metrics, seconds=70.0))


_BUILT: dict[tuple[int, bool], Path] = {}


def copy_fixture_ledger(runs_dir: str | Path, *, rounds: int = 3, running: bool = True) -> Ledger:
    """The fixture ledger copied into runs_dir. Built once per process (its atomic writes fsync, which
    is most of the cost), then copied: each test gets its own ledger to change."""
    key = (rounds, running)
    if key not in _BUILT:
        root = Path(tempfile.mkdtemp(prefix="fixture-ledger-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        write_fixture_ledger(root, rounds=rounds, running=running)
        _BUILT[key] = root
    shutil.copytree(_BUILT[key] / RUN, Path(runs_dir) / RUN)
    return Ledger(runs_dir, RUN)


# ---- the gate and the sampling check (add_gate_and_sampling) ----------------------------------
# Gate probes passed per family and round (of GATE_N each; each round passes a prefix of the same prompts,
# so every change is one-sided). Round 1 answers the gate without a verdict (as the warm start does);
# round 2 is better everywhere and accepted; round 3 has the highest mean rate but fell 0.15 on benign
# (more than the 0.1 margin) and is rejected, so round 4 starts from round 2 and round 2 is the best.
GATE_N, GATE_MARGIN = 20, 0.1
GATE_PASSES = {1: {"harmful": 10, "benign": 12, "unknowable": 8},
               2: {"harmful": 14, "benign": 18, "unknowable": 10},
               3: {"harmful": 20, "benign": 15, "unknowable": 16}}
# metrics.json "sampling" of the self-rewarding rounds: (samples passed, samples, greedy probes passed, probes)
# per behaviour. Round 2's refuse samples pass far less often than its start policy's greedy harmful probes
# (the intervals do not overlap); round 3's answer row has no greedy figure (its start measured no probes).
SAMPLING = {2: {"refuse": (4, 16, 16, 20), "comply": (14, 16, 17, 20)},
            3: {"refuse": (10, 16, 14, 20), "answer": (8, 8, None, None)}}
SAMPLED_FAMILY = {"refuse": "harmful", "comply": "benign", "answer": "arithmetic"}


def gate_records(n: int) -> list[dict]:
    """Round n's gate answers, in the probe record format (loop/measure/probes.py)."""
    return [{"family": family, "prompt": f"gate {family} prompt {i}", "expect": "x", "answer": "...",
             "pass": i < passed, "cut": False} for family, passed in GATE_PASSES[n].items() for i in range(GATE_N)]


def _sampling(n: int) -> dict:
    from loop.stats import wilson

    def rate(k, total):
        low, high = wilson(k, total)
        return {"rate": k / total, "low": low, "high": high, "n": total}

    return {label: {"samples": rate(k, n_s), "greedy": {"family": SAMPLED_FAMILY[label],
                                                        **(rate(g, n_g) if g is not None else {})}}
            for label, (k, n_s, g, n_g) in SAMPLING[n].items()}


def add_gate_and_sampling(ledger: Ledger) -> None:
    """Make the fixture ledger one written after rounds had to earn their place: gate.jsonl in rounds 1-3,
    summary["gate"] (decided as loop/measure/gate.py decides) in round.json and index.json, metrics.json
    "sampling" in rounds 2 and 3, and the running round 4 starting from round 2's adapter."""
    from loop.measure.gate import GATE_FILE, decide, mean_rate

    index = ledger.index()
    for n in GATE_PASSES:
        folder = ledger.complete_dir(n)
        records = gate_records(n)
        append_jsonl(folder / GATE_FILE, records)
        against = {1: None, 2: 1, 3: 2}[n]
        gate = {"accepted": True, "against_round": None, "families": {}, "why": ""} if against is None else \
            {**decide(records, gate_records(against), GATE_MARGIN), "against_round": against}
        gate["rate"] = mean_rate(records)
        info = json.loads((folder / "round.json").read_text("utf-8"))
        info["summary"]["gate"] = gate
        atomic_write_json(folder / "round.json", info)
        next(r for r in index["rounds"] if r["round"] == n)["summary"]["gate"] = gate
        if n in SAMPLING:
            metrics = ledger.metrics(n)
            atomic_write_json(folder / "metrics.json", {**metrics, "sampling": _sampling(n)})
    atomic_write_json(ledger.path / "index.json", index)
    running = ledger.partial_dir(4) / "round.json"
    if running.exists():
        atomic_write_json(running, {**json.loads(running.read_text("utf-8")), "starts_from": "round 2 adapter"})
