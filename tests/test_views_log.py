"""`loop log`: grouping critique records into completions, the filters, the panels, --json, --follow."""

from __future__ import annotations

import json

import pytest
from tests.helpers import run_cli
from tests.fixture_ledger import SNAPPY_BEST, append_running_step, copy_fixture_ledger, finish_running_round

from loop.views.log_view import JsonlTail, completion_panel, follow_round
from loop.views.critique_records import LogFilter, group_ranks, group_records, heldout_completions, rank_text


@pytest.fixture
def ledger(workspace):
    """The fixture ledger (3 complete rounds + round 4 running) inside a fresh workspace."""
    return copy_fixture_ledger(workspace / "runs")


def completions(ledger, n=3):
    return group_records(ledger.critiques(n))


def test_records_group_into_completions(ledger):
    found = completions(ledger)
    assert len(found) == 16  # 4 prompts x 4 samples
    assert all(len(c.records) == 6 for c in found)  # one record per principle
    assert [c.key for c in found[:2]] == [(3, 1, 0, 0), (3, 1, 0, 1)]


@pytest.mark.parametrize("log_filter, expected", [
    (LogFilter(), 16),
    (LogFilter(contains="pineapple"), 1),  # any case
    (LogFilter(contains="rambles"), 8),  # matches critique text too
    (LogFilter(contains="no such text"), 0),
    (LogFilter(disagree=0.0), 0),  # round 3's anchor judge scored only its held-out answers
    (LogFilter(principle="correct", min_score=0.5), 1),  # rule passed; null (no answer) is never >= 0.5
    (LogFilter(principle="correct", max_score=0.5), 3),  # rule failed; null is never <= 0.5 either
    (LogFilter(principle="polite", max_score=0.1), 0),
    (LogFilter(min_score=0.9), 4),  # the completion's mean score
    (LogFilter(min_score=0.5, max_score=0.7), 3),
    (LogFilter(worst=3), 3),
    (LogFilter(best=100), 16),
])
def test_filters(ledger, log_filter, expected):
    assert len(log_filter.select(completions(ledger))) == expected


@pytest.mark.parametrize("log_filter, expected", [
    (LogFilter(principle="honest", disagree=0.3), 4),  # round 2 ran with anchor_on_training: prompt 0 disagrees
    (LogFilter(disagree=0.3), 4),
    (LogFilter(disagree=0.9), 0),
])
def test_disagree_on_training_completions_the_anchor_scored(ledger, log_filter, expected):
    assert len(log_filter.select(completions(ledger, 2))) == expected


def heldout(ledger, n=3):
    return heldout_completions(ledger.evaluations(n))


def test_heldout_answers_carry_both_judges_and_the_rules(ledger):
    answers = heldout(ledger)
    assert [c.group for c in answers] == [0, 1, 2] and all(c.heldout for c in answers)
    honest = next(r for r in answers[0].records if r["principle"] == "honest")
    record = ledger.evaluations(3)[0]
    assert (honest["score"], honest["anchor_score"]) == (record["scores"]["honest"], record["anchor_scores"]["honest"])
    assert honest["anchor_critique"] == "Anchor on honest: acceptable."
    correct = next(r for r in answers[1].records if r["principle"] == "correct")
    assert correct["kind"] == "rule" and correct["score"] == 1.0 and correct["anchor_score"] is None


@pytest.mark.parametrize("log_filter, expected", [
    (LogFilter(disagree=0.3), 1),  # only held-out answer 0 disagrees, on honest
    (LogFilter(principle="honest", disagree=0.3), 1),
    (LogFilter(principle="helpful", disagree=0.3), 0),
    (LogFilter(contains="anchor on polite"), 3),  # the anchor's critiques are searched too
])
def test_filters_on_heldout_answers(ledger, log_filter, expected):
    assert len(log_filter.select(heldout(ledger))) == expected


def test_heldout_panel_shows_both_judges_without_a_reward(ledger, console):
    console.print(completion_panel(heldout(ledger)[0]))
    text = console.file.getvalue()
    assert "round 3 · held-out 0" in text and "Why is the sky blue?" in text
    assert "anchor" in text and "anchor: Anchor on honest: acceptable." in text
    assert "total reward" not in text and "never trained on" in text


def test_panel_has_no_anchor_column_where_the_anchor_did_not_score(ledger, console):
    console.print(completion_panel(completions(ledger)[0]))
    assert "anchor" not in console.file.getvalue()


def test_principle_filter_keeps_only_that_principle(ledger):
    shown = LogFilter(principle="helpful").select(completions(ledger))
    assert {r["principle"] for c in shown for r in c.records} == {"helpful"}


def test_worst_and_best_sort_by_total_reward(ledger):
    worst = LogFilter(worst=2).select(completions(ledger))
    best = LogFilter(best=1).select(completions(ledger))
    assert worst[0].completion == "I don't know." and worst[0].total_reward <= worst[1].total_reward
    assert best[0].completion == SNAPPY_BEST


def test_panel_shows_prompt_answer_scores_critiques_reward(ledger, console):
    best = LogFilter(best=1).select(completions(ledger))[0]
    console.print(completion_panel(best))
    text = console.file.getvalue()
    assert "round 3 · step 1 · prompt 1 · sample 2" in text
    assert "How does a refrigerator keep food cold?" in text and SNAPPY_BEST in text
    assert "█████████▉ 0.99" in text  # the score bar and its number
    assert "On helpful: direct and to the point." in text
    assert "rule check: could not score" in text  # `correct` without an answer is null, not 0
    assert "total reward 4.96" in text and "advantage +1.40" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_log_command_defaults_to_latest_round_including_running(ledger):
    code, out, _ = run_cli("log", "--no-pager")
    assert code == 0
    assert "round 4 (running) · 8 of 8 completions" in out


def test_log_command_with_filters(ledger):
    code, out, _ = run_cli("log", "--round", "3", "--contains", "PINEAPPLE")
    assert code == 0 and "1 of 16 completions · containing 'PINEAPPLE'" in out and SNAPPY_BEST in out
    code, out, _ = run_cli("log", "--round", "2", "--disagree")
    assert "judge vs anchor >= 0.3" in out and out.count("╭─ round 2 · step") == 4
    code, out, _ = run_cli("log", "--round", "2", "--contains", "zzz")
    assert code == 0 and "no completions match (containing 'zzz')" in out


def test_log_json_prints_the_ledger_records(ledger):
    code, out, _ = run_cli("log", "--round", "2", "--principle", "honest", "--disagree", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == 4
    assert all(r["principle"] == "honest" and abs(r["score"] - r["anchor_score"]) >= 0.3 for r in records)


def test_disagree_reads_the_heldout_answers_where_the_anchor_scored_only_those(ledger):
    code, out, _ = run_cli("log", "--round", "3", "--disagree")
    assert code == 0 and "1 of 3 held-out answers · judge vs anchor >= 0.3" in out
    assert out.count("╭─ round 3 · held-out 0") == 1 and "step" not in out


def test_heldout_shows_every_heldout_answer(ledger):
    code, out, _ = run_cli("log", "--round", "2", "--heldout")
    assert code == 0 and "3 of 3 held-out answers" in out and out.count("╭─ round 2 · held-out") == 3


def test_heldout_json_is_one_record_per_answer_and_principle(ledger):
    code, out, _ = run_cli("log", "--round", "3", "--disagree", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == 6  # held-out answer 0, every principle
    honest = next(r for r in records if r["principle"] == "honest")
    assert honest["heldout"] and honest["index"] == 0 and abs(honest["score"] - honest["anchor_score"]) >= 0.3


def test_heldout_of_a_running_round_says_when_they_come(ledger):
    code, out, _ = run_cli("log", "--heldout")
    assert code == 0 and "round 4 (running) · 0 of 0 held-out answers" in out and "judged when the round ends" in out


@pytest.mark.parametrize("argv, message", [
    (["--round", "9"], "run 'main' has no round 9; rounds: 1, 2, 3, 4"),
    (["--principle", "helpfull"], "no principle 'helpfull' in round 4 (did you mean 'helpful'?)"),
    (["--run", "other"], "no run 'other' yet; runs: main"),
    (["--min-score", "0.8", "--max-score", "0.2"], "--min-score 0.8 is above --max-score 0.2"),
    (["--worst", "0"], "--worst must be at least 1"),
    (["--worst", "2", "--follow"], "cannot be combined with --follow"),
    (["--disagree", "--follow"], "anchor_on_training = true scores training completions too) reads the held-out"),
    (["--heldout", "--round", "3", "--worst", "1"], "held-out answers, which have no reward"),
])
def test_log_errors_are_one_line_exit_2(ledger, argv, message):
    code, out, err = run_cli("log", *argv)
    assert code == 2 and message in err and err.count("\n") == 1 and out == ""


def test_log_without_any_round(workspace):
    code, _, err = run_cli("log")
    assert code == 2 and "no run 'main' yet; start one with `loop run`" in err


def test_jsonl_tail_leaves_a_half_written_line_for_later(tmp_path):
    path, tail = tmp_path / "c.jsonl", JsonlTail()
    assert tail.read(path) == []  # not created yet
    path.write_text('{"a": 1}\n{"b": ')
    assert tail.read(path) == [{"a": 1}]
    with open(path, "a") as fh:
        fh.write('2}\n')
    assert tail.read(path) == [{"b": 2}]


def test_follow_prints_new_completions_until_the_round_completes(ledger, console):
    script = iter([lambda: None, lambda: append_running_step(ledger, 4, 2), lambda: finish_running_round(ledger, 4)])
    sleeps = []

    def scripted_sleep(seconds):  # each poll's pause is where the round code writes more
        sleeps.append(seconds)
        next(script)()

    code = follow_round(ledger, 4, LogFilter(), console, poll_seconds=0.01, sleep=scripted_sleep)
    text = console.file.getvalue()
    assert code == 0 and len(sleeps) == 3
    assert "following round 4" in text and text.rstrip().endswith("round 4 complete")
    assert text.count("╭─ round 4 · step 1") == 8 and text.count("╭─ round 4 · step 2") == 8
    # every completion exactly once, in order
    keys = [line.split("─ ")[1].split(" ─")[0] for line in text.splitlines() if line.startswith("╭─ round 4")]
    assert len(keys) == len(set(keys)) == 16


def test_follow_json_streams_records_with_filters(ledger, capsys):
    script = iter([lambda: finish_running_round(ledger, 4)])
    follow_round(ledger, 4, LogFilter(principle="helpful"), None, as_json=True, sleep=lambda s: next(script)())
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 8 and {r["principle"] for r in records} == {"helpful"}


def test_follow_on_a_complete_round_prints_it_and_exits(ledger):
    code, out, _ = run_cli("log", "--round", "2", "--follow")
    assert code == 0 and out.count("╭─ round 2") == 16 and "round 2 complete" in out


def test_log_of_a_round_with_no_critiques_yet(ledger):
    (ledger.partial_dir(4) / "critiques.jsonl").unlink()
    code, out, _ = run_cli("log")
    assert code == 0 and "round 4 (running) · 0 of 0 completions" in out and "no critiques written yet" in out


def test_log_shows_an_interrupted_round_as_such(ledger):
    ledger.reconcile()  # what the next `loop run` does first: a running round without a process is interrupted
    code, out, _ = run_cli("log", "--worst", "1")
    assert code == 0 and "round 4 (interrupted)" in out


def test_follow_stops_quietly_on_ctrl_c(ledger, console):
    def interrupted(seconds):
        raise KeyboardInterrupt

    assert follow_round(ledger, 4, LogFilter(), console, sleep=interrupted) == 0
    assert console.file.getvalue().count("╭─ round 4") == 8  # what was there was printed first


def test_piped_output_has_no_colour_codes(ledger):
    _, out, _ = run_cli("log", "--round", "3")
    assert "\x1b[" not in out


def starts_from(ledger, n: int, what: str) -> None:
    path = ledger.complete_dir(n) / "round.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "starts_from": what}))


def test_disagree_on_a_round_judged_by_the_anchor_says_why_nothing_shows(ledger):
    starts_from(ledger, 1, "base model")  # its frozen round-start judge is the base: the anchor itself
    code, out, _ = run_cli("log", "--round", "1", "--disagree")
    assert code == 0 and "no held-out answers match" in out
    assert ("round 1's judge is the anchor judge (it starts from the base model), so they cannot disagree"
            in " ".join(out.split()))


def test_disagree_on_a_round_with_its_own_judge_gives_no_such_reason(ledger):
    starts_from(ledger, 2, "round 1 adapter")
    code, out, _ = run_cli("log", "--round", "2", "--disagree", "0.9")
    assert code == 0 and "no completions match" in out and "cannot disagree" not in out


def rewrite_records(ledger, n: int, change) -> None:
    """Rewrite round n's critiques.jsonl, passing each record through change(record)."""
    path = ledger.complete_dir(n) / "critiques.jsonl"
    records = [change(json.loads(line)) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def row_of(text: str, principle: str) -> str:
    return next(line for line in text.splitlines() if line.lstrip("│ ").startswith(f"{principle} "))


def test_group_ranks_order_each_principles_scores_within_the_group(ledger):
    ranks = group_ranks(completions(ledger))
    best = LogFilter(best=1).select(completions(ledger))[0]
    assert ranks[best.key]["helpful"] == (1, 1, 4)  # 0.99: the best of its group's four answers
    worst = LogFilter(worst=1).select(completions(ledger))[0]
    assert ranks[worst.key]["helpful"] == (4, 4, 4)


def test_group_ranks_span_the_ranks_of_a_tie_and_skip_what_could_not_score():
    records = [{"round": 1, "step": 1, "group": 0, "sample": s, "principle": "p", "score": score}
               for s, score in enumerate([0.5, 0.9, 0.5, None])]
    ranks = group_ranks(group_records(records))
    assert [ranks[(1, 1, 0, s)].get("p") for s in range(4)] == [(2, 3, 3), (1, 1, 3), (2, 3, 3), None]
    assert [rank_text(ranks[(1, 1, 0, s)]["p"]) for s in range(3)] == ["tie 2-3/3", "1/3", "tie 2-3/3"]


def test_a_score_the_whole_group_shares_is_a_tie_not_the_best():
    records = [{"round": 1, "step": 1, "group": 0, "sample": s, "principle": "p", "score": 0.0} for s in range(4)]
    ranks = group_ranks(group_records(records))
    assert {rank_text(ranks[(1, 1, 0, s)]["p"]) for s in range(4)} == {"tie 1-4/4"}


def test_log_shows_each_scores_rank_within_its_group(ledger):
    code, out, _ = run_cli("log", "--round", "3", "--best", "1")
    assert code == 0 and "rank" in out
    assert "1/4" in row_of(out, "helpful")


def test_log_marks_each_principle_with_its_measured_reliability(ledger):
    path = ledger.complete_dir(3) / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["reliability"] = {"honest": {"accuracy": 0.69, "low": 0.52, "high": 0.82, "n": 32},
                              "polite": {"accuracy": 0.56, "low": 0.38, "high": 0.72, "n": 32}}
    path.write_text(json.dumps(metrics))
    code, out, _ = run_cli("log", "--round", "3", "--best", "1")
    assert code == 0 and "honest 69%" in row_of(out, "honest") and "polite 56%" in row_of(out, "polite")
    assert "helpful %" not in out and "judge picked the better answer" in " ".join(out.split())


def test_log_marks_an_answer_cut_at_the_length_limit(ledger):
    rewrite_records(ledger, 3, lambda r: {**r, "cut_tokens": 48 if r["completion"] == SNAPPY_BEST else None})
    code, out, _ = run_cli("log", "--round", "3", "--best", "2")
    assert code == 0 and " ".join(out.replace("│", "").split()).count("… [cut at 48 tokens]") == 1


def baseline_round(ledger) -> None:
    """A round 0 as a run records it: the base model's held-out answers (eval.jsonl), no critiques."""
    import shutil

    folder = ledger.complete_dir(0)
    shutil.copytree(ledger.complete_dir(1), folder)
    (folder / "critiques.jsonl").unlink()
    info = json.loads((folder / "round.json").read_text())
    (folder / "round.json").write_text(json.dumps({**info, "round": 0, "kind": "baseline",
                                                   "starts_from": "base model (no adapter, no training)"}))
    evals = [{**json.loads(line), "round": 0} for line in (folder / "eval.jsonl").read_text().splitlines()]
    (folder / "eval.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evals))


def test_log_of_round_zero_shows_its_heldout_answers(ledger):
    baseline_round(ledger)
    code, out, _ = run_cli("log", "--round", "0")
    assert code == 0 and "round 0 (complete) · 3 of 3 held-out answers" in out
    assert out.count("╭─ round 0 · held-out") == 3 and "Why is the sky blue?" in out


def test_ranking_round_zero_says_it_has_no_rewards(ledger):
    baseline_round(ledger)
    code, _, err = run_cli("log", "--round", "0", "--worst", "2")
    assert code == 2 and "round 0 (baseline) has no training completions" in err and "no reward" in err


def test_log_shows_a_tie_as_a_tie_and_the_reward_of_its_maximum(ledger):
    # round 3, prompt 0: every answer meets the concise rule (1.0), so none of them is the group's best
    code, out, _ = run_cli("log", "--round", "3", "--worst", "1")
    assert code == 0 and "group rank" in out
    assert "tie 1-4/4" in row_of(out, "concise") and "4/4" in row_of(out, "helpful")
    weights = json.loads((ledger.complete_dir(3) / "round.json").read_text())["effective_weights"]
    assert f"total reward 0.60 of {sum(weights.values()):.2f} · advantage -1.45 (group-normalized)" in out
