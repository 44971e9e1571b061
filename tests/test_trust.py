"""A round's trust in its judge (loop/training/judge_trust.py): the judge reads the labeled pairs at the
round start, a principle read at chance is zeroed and not judged, later rounds read only a slice, and
what was measured is in the round's ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tests.scripted_judge import ScriptedCritique, ScriptedJudge

from loop.ledger import Ledger
from loop.training import judge_trust
from loop.training.progress import Silent
from loop.training.round import plan_run
from loop.workspace import Workspace

JUDGED = ["faithful", "harmless", "helpful", "honest", "polite"]


class LabelReader(ScriptedJudge):
    """Reads the constitution's labeled pairs right for the principles in `reads` (1 for a chosen answer,
    0 for any other), the wrong way round for those in `reversed`, and scores the rest 0.5 (a tie:
    at chance and below). Any other answer scores by length, as the plain scripted judge does."""

    reads = ("harmless", "helpful", "polite")
    reversed: tuple[str, ...] = ()

    def __init__(self, model=None, tokenizer=None, constitution=None, *args, **kwargs):
        super().__init__()
        self.chosen = {pair.chosen for pairs in (constitution.labeled.values() if constitution else ()) for pair in pairs}
        self.labeled = self.chosen | {pair.rejected for pairs in (constitution.labeled.values() if constitution else ())
                                      for pair in pairs}

    def score(self, prompts, responses, principle_id=None, *, principle=None, view=None, rows=None):
        pid = principle_id or principle.id
        self.calls.append((list(prompts), list(responses), pid))
        out = []
        for response in responses:
            if response in self.labeled and pid in self.reads + self.reversed:
                score = float((response in self.chosen) != (pid in self.reversed))
            elif response in self.labeled:
                score = 0.5
            else:
                score = min(1.0, len(response) / 80)
            out.append(ScriptedCritique(pid, "", score))
        return out


class Notes(Silent):
    """A round's progress that keeps the lines the round tells."""

    def __init__(self, round_number: int = 0):
        super().__init__(round_number)
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(text)


class Model:
    """Just enough of a model for `judge_state`: the base (no adapter), or a trained adapter."""

    def __init__(self, trained: float = 0.0):
        self.params = [("layer.lora_B.default.weight", torch.full((2,), trained))]

    def named_parameters(self):
        return iter(self.params)


def assess(workspace: Path, r: int, judge=None, model=None, **judge_settings):
    """Round r's assessment in a fresh round folder, completed afterwards like a real round."""
    plan = plan_run(Workspace(workspace), {"judge": judge_settings} if judge_settings else {})
    folder = plan.ledger.begin_round(r)
    (folder / "round.json").write_text(json.dumps({"round": r}))
    notes = Notes()
    trust = judge_trust.assess(plan, r, folder, judge or LabelReader(None, None, plan.constitution), model or Model(),
                               notes)
    plan.ledger.complete_round(r, {})
    return trust, notes, Ledger(workspace / "runs", "main").complete_dir(r)


def test_the_first_round_reads_every_labeled_pair(workspace):
    from loop.workspace import Workspace

    trust, _, folder = assess(workspace, 1)
    constitution = Workspace(workspace).constitution()
    sizes = {pid: len(constitution.pairs(pid)) for pid in JUDGED}
    assert trust.pairs_read == sum(sizes.values()) and len((folder / "reliability.jsonl").read_text().splitlines()) == \
        sum(sizes.values())
    assert {pid: trust.reliability[pid]["n"] for pid in JUDGED} == sizes


def test_the_round_records_reliability_and_effective_weights(workspace):
    _, _, folder = assess(workspace, 1)
    info = json.loads((folder / "round.json").read_text())
    assert set(info["reliability"]) == set(JUDGED)  # rule principles are not measured: they are rules
    assert set(info["reliability"]["helpful"]) == {"accuracy", "low", "high", "n"}
    assert info["effective_weights"]["concise"] == 0.5 and info["effective_weights"]["correct"] == 1.0
    assert info["judge_state"] == "base"


def test_a_principle_read_at_chance_is_zeroed_and_said_so(workspace):
    trust, notes, _ = assess(workspace, 1)
    assert trust.weights["honest"] == 0 and trust.weights["helpful"] > 0
    assert "honest: judge accuracy 0.00 [0.00, 0.04] on 100 pairs -> weight 0; give it a [check] or better pairs" \
        in notes.lines


def test_a_principle_read_right_keeps_its_weight(workspace):
    trust, _, _ = assess(workspace, 1)
    assert trust.reliability["helpful"]["accuracy"] == 1.0 and trust.weights["helpful"] == 1.0


def test_with_weighting_off_the_weights_are_as_written_and_still_measured(workspace):
    trust, _, _ = assess(workspace, 1, reliability_weights=False)
    assert trust.weights["honest"] == 1.0 and trust.reliability["honest"]["accuracy"] == 0.0


def test_a_later_round_with_a_changed_judge_reads_only_its_slice(workspace):
    assess(workspace, 1)
    trust, notes, _ = assess(workspace, 2, model=Model(trained=0.1))
    assert trust.pairs_read == 5 * 5  # [judge] reliability_sample pairs a principle
    assert trust.reliability["helpful"]["n"] == 100  # the others keep their latest reading
    assert not any("->" in line for line in notes.lines)  # no weight changed: nothing to say


def test_a_judge_with_the_same_weights_reads_its_slice_back_from_the_cache(workspace, monkeypatch):
    monkeypatch.delenv("LOOP_NO_CACHE", raising=False)
    assess(workspace, 1)
    judge = LabelReader(None, None, Workspace(workspace).constitution())
    trust, _, _ = assess(workspace, 2, judge=judge)
    assert judge.calls == [] and trust.cache == {"pair": {"hits": 5 * 5, "misses": 0}}
    assert trust.pairs_read == 5 * 5 and trust.weights["honest"] == 0


def test_an_edited_principle_is_read_again_in_full(workspace):
    assess(workspace, 1)
    path = workspace / "constitution" / "principles" / "honest.toml"
    path.write_text(path.read_text().replace("Is this answer accurate?", "Is this answer true?"))
    judge = LabelReader(None, None, Workspace(workspace).constitution())
    trust, _, _ = assess(workspace, 2, judge=judge, model=Model(trained=0.1))
    honest = [call for call in judge.calls if call[2] == "honest"]
    assert sum(len(call[1]) for call in honest) == 2 * 100 and trust.pairs_read == 100 + 4 * 5


def test_an_edited_pair_is_read_and_the_others_carry_over(workspace, monkeypatch):
    monkeypatch.delenv("LOOP_NO_CACHE", raising=False)
    assess(workspace, 1)
    path = workspace / "constitution" / "pairs" / "honest.jsonl"
    path.write_text(path.read_text().replace("The Pacific Ocean.", "The Pacific.", 1))
    judge = LabelReader(None, None, Workspace(workspace).constitution())
    trust, _, _ = assess(workspace, 2, judge=judge)
    # The edited pair's two answers alone are scored; the slice the same judge read comes back from the cache.
    assert sum(len(call[1]) for call in judge.calls) == 2 and trust.cache["pair"]["misses"] == 1
    assert trust.reliability["honest"]["n"] == 100


def reversed_on_helpful(workspace) -> LabelReader:
    """A judge that now orders helpful's pairs the wrong way round (a judge that moved)."""
    judge = LabelReader(None, None, plan_run(Workspace(workspace), {}).constitution)
    judge.reversed, judge.reads = ("helpful",), ("harmless", "polite")
    return judge


def test_two_judges_that_order_the_same_pairs_oppositely_have_consistency_minus_1(workspace):
    assess(workspace, 1)
    trust, _, _ = assess(workspace, 2, judge=reversed_on_helpful(workspace), model=Model(trained=0.1))
    assert trust.consistency["helpful"]["tau"] == -1.0 and trust.consistency["helpful"]["against_round"] == [1]
    assert trust.consistency["harmless"]["tau"] == 1.0


def test_a_judge_that_moved_reads_every_pair_again(workspace):
    assess(workspace, 1)
    trust, notes, _ = assess(workspace, 2, judge=reversed_on_helpful(workspace), model=Model(trained=0.1))
    assert trust.pairs_read == 100 + 4 * 5 and trust.reliability["helpful"]["accuracy"] == 0.0
    assert any(line.startswith("helpful: the judge moved (consistency -1.00") for line in notes.lines)
    assert any(line.startswith("helpful: judge accuracy 0.00") for line in notes.lines)


class PartlyMoved(LabelReader):
    """A judge that now reads 15 of helpful's 100 pairs the wrong way round: 0.85 right, consistency 0.7."""

    def __init__(self, model=None, tokenizer=None, constitution=None, *args, **kwargs):
        super().__init__(model, tokenizer, constitution)
        pairs = constitution.pairs("helpful")[:15]
        self.flipped = {answer for pair in pairs for answer in (pair.chosen, pair.rejected)}

    def score(self, prompts, responses, principle_id=None, *, principle=None, view=None, rows=None):
        out = super().score(prompts, responses, principle_id, principle=principle, view=view)
        if (principle_id or principle.id) == "helpful":
            out = [ScriptedCritique(c.principle, "", 1 - c.score) if r in self.flipped else c
                   for c, r in zip(out, responses)]
        return out


def test_a_judge_that_reorders_pairs_earns_its_consistency_as_a_share_of_its_weight(workspace):
    assess(workspace, 1, reliability_sample=0)
    moved = PartlyMoved(None, None, plan_run(Workspace(workspace), {}).constitution)
    trust, notes, folder = assess(workspace, 2, judge=moved, model=Model(trained=0.1), reliability_sample=0)
    assert trust.consistency["helpful"] == {"tau": 0.7, "n": 100, "against_round": [1]}
    assert trust.reliability["helpful"]["accuracy"] == 0.85 and trust.confidence["helpful"] == 0.7
    assert trust.weights["helpful"] == pytest.approx(1.0 * (2 * 0.85 - 1) * 0.7)
    assert trust.weights["harmless"] == 1.0 and trust.confidence["harmless"] == 1.0  # it ordered every pair alike
    assert "helpful: judge accuracy 0.85 [0.77, 0.91] on 100 pairs, consistency +0.70 on 100 pairs -> weight 0.49 of 1" \
        in notes.lines
    assert json.loads((folder / "round.json").read_text())["confidence"]["helpful"] == 0.7


def test_with_consistency_confidence_off_accuracy_alone_sets_the_weight(workspace):
    assess(workspace, 1, reliability_sample=0)
    moved = PartlyMoved(None, None, plan_run(Workspace(workspace), {}).constitution)
    trust, _, _ = assess(workspace, 2, judge=moved, model=Model(trained=0.1), reliability_sample=0,
                         consistency_confidence=False)
    assert trust.consistency["helpful"]["tau"] == 0.7  # still measured and recorded
    assert trust.weights["helpful"] == pytest.approx(2 * 0.85 - 1)


def test_a_fresh_adapter_is_the_base_judge():
    assert judge_trust.judge_state(Model()) == "base"


def test_adapters_with_other_weights_are_other_judges():
    states = {judge_trust.judge_state(Model(0.1)), judge_trust.judge_state(Model(0.2))}
    assert len(states) == 2 and "base" not in states


@pytest.fixture
def reliable_round(workspace, tiny_model_dir):
    """One round on the tiny model with a judge that reads every principle but honest."""
    from loop.training.round import run_rounds

    overrides = {"run": {"prompts_per_round": 2, "heldout_size": 3}, "model": {"name": str(tiny_model_dir)},
                 "grpo": {"num_generations": 2, "max_completion_length": 8}, "train": {"warm_start": False},
                 "probes": {"per_round": 2, "max_new_tokens": 8}}
    notes = Notes(1)
    run_rounds(plan_run(Workspace(workspace), overrides), 1, progress=lambda r: notes, make_judge=LabelReader)
    return workspace / "runs" / "main" / "round-001", notes.lines


def test_a_zeroed_principle_is_not_judged_in_training_and_its_records_say_so(reliable_round):
    folder, _ = reliable_round
    records = [json.loads(line) for line in (folder / "critiques.jsonl").read_text().splitlines()]
    honest = [rec for rec in records if rec["principle"] == "honest"]
    assert honest and all(rec["critique"] == "not judged: weight 0" and rec["score"] is None for rec in honest)
    assert {rec["kind"] for rec in honest} == {"unjudged"}
    assert all(rec["score"] is not None for rec in records if rec["principle"] == "helpful" and rec["kind"] == "judge")


def test_a_round_says_which_weights_changed_through_its_progress(reliable_round):
    _, lines = reliable_round
    assert any(line.startswith("honest: judge accuracy") and "-> weight 0;" in line for line in lines)


def test_the_log_shows_why_a_zeroed_principle_has_no_score(reliable_round, console):
    from loop.ledger import Ledger
    from loop.views.critique_records import LogFilter
    from loop.views.log_view import show_log

    folder, _ = reliable_round
    show_log(Ledger(folder.parent.parent, "main"), console, round_number=1, log_filter=LogFilter(principle="honest"),
             pager=False)
    text = console.file.getvalue()
    assert "not judged: weight 0" in text and "could not score" not in text


def test_round_zero_reads_every_pair_with_the_anchor(reliable_round):
    folder, _ = reliable_round
    info = json.loads((folder.parent / "round-000" / "round.json").read_text())
    assert info["judge_state"] == "base" and info["pairs_read"] == sum(info["reliability"][p]["n"] for p in JUDGED)
    assert info["effective_weights"]["honest"] == 0 and info["effective_weights"]["helpful"] > 0


def test_a_rounds_reliability_is_in_its_metrics_for_the_log_and_the_model_card(reliable_round):
    folder, _ = reliable_round
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["reliability"] == json.loads((folder / "round.json").read_text())["reliability"]
