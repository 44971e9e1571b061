"""What several processes change, checked in one: the critique recorder numbers samples by their place
in the whole batch, and writes without a collective where rank 0 alone sampled. (Two real processes:
the slow tests/test_multi_process.py.)"""

from __future__ import annotations

import json

import pytest


def test_recorder_numbers_samples_by_their_place_in_the_whole_batch(tmp_path, monkeypatch):
    import loop.training.recorder as recorder_module

    # This process judged one answer of a group of two; the other process judged the other answer.
    def gather_with_another_process(items):
        return items + [[{**record, "completion": "the other process's answer"} for record in items[0]]]

    monkeypatch.setattr(recorder_module, "gather_object", gather_with_another_process)
    recorder = recorder_module.CritiqueRecorder(tmp_path / "critiques.jsonl", 2, {"honest": 1.0})
    recorder.add("honest", "rule", ["Q?"], ["my answer"], [1.0], [{"score": 1.0}], {"slot": [0]})
    recorder.flush(step=1, group_size=2, max_length=8)
    records = [json.loads(line) for line in (tmp_path / "critiques.jsonl").read_text().splitlines()]
    assert [(r["completion"], r["group"], r["sample"]) for r in records] == [
        ("my answer", 0, 0), ("the other process's answer", 0, 1)]


def test_recorder_of_rank_zero_alone_writes_without_waiting_for_the_others(tmp_path, monkeypatch):
    import loop.training.recorder as recorder_module

    # A DPO round samples on rank 0 alone: a collective there would wait forever for the other ranks.
    def collective(items):
        raise AssertionError("gathered across processes")

    monkeypatch.setattr(recorder_module, "gather_object", collective)
    recorder = recorder_module.CritiqueRecorder(tmp_path / "critiques.jsonl", 3, {"honest": 1.0})
    recorder.add("honest", "rule", ["Q?"] * 2, ["a", "b"], [1.0, 0.0], [{"score": 1.0}, {"score": 0.0}], {"slot": [0, 0]})
    recorder.flush(step=0, group_size=2, max_length=8, across_processes=False)
    records = [json.loads(line) for line in (tmp_path / "critiques.jsonl").read_text().splitlines()]
    assert [(r["completion"], r["sample"]) for r in records] == [("a", 0), ("b", 1)]


def test_one_process_runs_what_rank_zero_runs_and_keeps_its_error(monkeypatch):
    from loop.dist import gather_object, on_main
    from loop.errors import LoopError

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert on_main(lambda a, b: a + b, 2, 3) == 5 and gather_object([1, 2]) == [1, 2]

    def refuse():
        raise LoopError("the pool changed", path="pool.jsonl")

    with pytest.raises(LoopError, match="^pool.jsonl: the pool changed$"):
        on_main(refuse)


def test_rank_zero_error_stops_another_process_which_leaves_the_printing_to_rank_zero(monkeypatch):
    import loop.dist as dist

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(dist, "broadcast_object", lambda obj: ("error", "loop.toml: the pool changed"))
    with pytest.raises(dist.EchoedError, match="^loop.toml: the pool changed$"):
        dist.on_main(lambda: pytest.fail("rank 1 ran what rank 0 alone runs"))


def test_a_command_every_process_completed_ends_with_the_process_group_destroyed(monkeypatch):
    import torch.distributed as torch_dist

    from loop.dist import shut_down

    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch_dist, "is_initialized", lambda: True)
    monkeypatch.setattr(torch_dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(torch_dist, "destroy_process_group", lambda: calls.append("destroy"))
    shut_down()
    assert calls == ["barrier", "destroy"]
    monkeypatch.setenv("WORLD_SIZE", "1")
    shut_down()
    assert calls == ["barrier", "destroy"]  # one process: no group to destroy
