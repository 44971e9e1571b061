"""The content cache (loop/cache.py): a reading read back is the reading a fresh computation gives, an
edit to anything that decides it is a miss, a broken entry is never trusted, and a cache that cannot
be written changes nothing but the time a run takes."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
from pathlib import Path

import pytest
import torch
from tests.helpers import run_cli
from tests.scripted_judge import ScriptedJudge

from loop import cache as cache_module
from loop.cache import Cache, model_identity, workspace_cache
from loop.training import judge_trust
from loop.training.progress import Silent
from loop.training.round import plan_run, run_rounds
from loop.workspace import Workspace, defaults_dir, init_workspace


@pytest.fixture(autouse=True)
def cache_on(monkeypatch):
    """conftest turns the cache off for every other test; here it is what is tested."""
    monkeypatch.delenv("LOOP_NO_CACHE", raising=False)


class Counted:
    """A computation that says which items it was asked for."""

    def __init__(self, values: list):
        self.values, self.asked = values, []

    def __call__(self, indices: list[int]) -> list:
        self.asked.append(list(indices))
        return [self.values[i] for i in indices]


def reuse(cache: Cache, items: list[dict], values: list, kind: str = "probe") -> tuple[list, Counted]:
    compute = Counted(values)
    return cache.reuse(kind, lambda: {"model": "m"}, items, compute), compute


ITEMS = [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c"}]
VALUES = [["an answer", False], ["another", True], [0.25, None]]


def only_entry(root: Path) -> Path:
    (path,) = root.glob("*/*/*.json")
    return path


# ---- the store ------------------------------------------------------------------------------------

def test_a_value_read_back_is_the_value_computed(tmp_path):
    cache = Cache(tmp_path / "c")
    first, fresh = reuse(cache, ITEMS, VALUES)
    again, second = reuse(cache, ITEMS, VALUES)
    assert first == again == VALUES and fresh.asked == [[0, 1, 2]] and second.asked == []
    assert cache.counts == {"probe": {"hits": 3, "misses": 3}}


def test_only_the_items_that_changed_are_computed(tmp_path):
    cache = Cache(tmp_path / "c")
    reuse(cache, ITEMS, VALUES)
    values, compute = reuse(cache, [ITEMS[0], {"prompt": "b, edited"}, ITEMS[2]], VALUES)
    assert compute.asked == [[1]] and values == VALUES


def test_the_common_part_and_the_kind_are_in_the_key(tmp_path):
    cache = Cache(tmp_path / "c")
    reuse(cache, ITEMS, VALUES)
    other_model = Counted(VALUES)
    cache.reuse("probe", lambda: {"model": "another"}, ITEMS, other_model)
    _, other_kind = reuse(cache, ITEMS, VALUES, kind="heldout")
    assert other_model.asked == [[0, 1, 2]] and other_kind.asked == [[0, 1, 2]]


BREAKS = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "not UTF-8": lambda text: "\udcff",
    "value edited": lambda text: text.replace("an answer", "an answeR"),
    "another key": lambda text: text.replace(json.loads(text)["key"], "0" * 64),
    "not an object": lambda text: "[1, 2]",
}


@pytest.mark.parametrize("name", BREAKS)
def test_a_broken_entry_is_a_miss_and_is_written_again(tmp_path, name):
    cache = Cache(tmp_path / "c")
    reuse(cache, ITEMS[:1], VALUES[:1])
    path = only_entry(tmp_path / "c")
    path.write_bytes(BREAKS[name](path.read_text("utf-8")).encode("utf-8", "surrogateescape"))
    values, compute = reuse(cache, ITEMS[:1], VALUES[:1])
    assert compute.asked == [[0]] and values == VALUES[:1]
    assert json.loads(path.read_text("utf-8"))["value"] == VALUES[0]  # whole again
    _, after = reuse(cache, ITEMS[:1], VALUES[:1])
    assert after.asked == []


def _write_often(root: str, key: str, writer: int) -> None:
    cache = Cache(root)
    for i in range(40):
        cache.put("pair", key, {"writer": writer, "i": i, "padding": "x" * 4000})


def test_two_processes_writing_one_entry_leave_one_valid_entry(tmp_path):
    key = "ab" + "0" * 62
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_write_often, args=(str(tmp_path / "c"), key, w)) for w in (1, 2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
    assert [process.exitcode for process in writers] == [0, 0]
    value = Cache(tmp_path / "c").get("pair", key)
    assert value["writer"] in (1, 2) and value["i"] == 39
    assert [p.name for p in (tmp_path / "c" / "pair" / "ab").iterdir()] == [f"{key}.json"]  # no temp file left


def test_a_folder_that_cannot_be_written_warns_once_and_changes_no_value(tmp_path):
    (tmp_path / "c").write_text("a file where the cache folder would be")
    lines: list[str] = []
    cache = Cache(tmp_path / "c", warn=lines.append)
    first, _ = reuse(cache, ITEMS, VALUES)
    again, compute = reuse(cache, ITEMS, VALUES)
    assert first == again == VALUES and compute.asked == [[0, 1, 2]]
    assert len(lines) == 1 and lines[0].startswith(f"cache {tmp_path / 'c'} cannot be written")


def test_a_full_disk_warns_once_and_the_values_still_come(tmp_path, monkeypatch):
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_module, "atomic_write", full)
    lines: list[str] = []
    values, _ = reuse(Cache(tmp_path / "c", warn=lines.append), ITEMS, VALUES)
    assert values == VALUES and lines == [f"cache {tmp_path / 'c'} cannot be written (No space left on device); "
                                          "going on without it"]


def test_a_reading_whose_key_cannot_be_made_is_measured_with_one_warning(tmp_path):
    def unknowable() -> dict:
        raise AttributeError("no weights to read")

    lines: list[str] = []
    cache = Cache(tmp_path / "c", warn=lines.append)
    compute = Counted(VALUES)
    assert cache.reuse("probe", unknowable, ITEMS, compute) == VALUES and compute.asked == [[0, 1, 2]]
    assert lines == ["cache keys of probe readings could not be made (AttributeError: no weights to read); "
                     "measuring them"]


def test_past_its_limit_the_entries_read_least_recently_go(tmp_path):
    cache = Cache(tmp_path / "c", limit_mb=12_000 / 2**20)  # room for five entries of about 2.2 KB
    keys = [f"{i:02d}" + "0" * 62 for i in range(6)]
    for i, key in enumerate(keys[:5]):
        cache.put("probe", key, "x" * 2000)
        os.utime(cache.path("probe", key), ns=(i * 10**9, i * 10**9))  # written one second apart
    assert cache.get("probe", keys[0]) == "x" * 2000  # read now: the most recent of all
    cache.put("probe", keys[5], "x" * 2000)  # past the limit: down to 90 % of it
    assert sorted(e.path.stem for e in cache.entries()) == [keys[0], keys[3], keys[4], keys[5]]
    assert cache.size() <= 0.9 * cache.limit


def test_only_rank_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    cache = Cache(tmp_path / "c")
    reuse(cache, ITEMS, VALUES)
    _, compute = reuse(cache, ITEMS, VALUES)
    assert compute.asked == [[0, 1, 2]] and not (tmp_path / "c").exists()


@pytest.mark.parametrize("env, cache_mb, on", [(None, 200, True), ("1", 200, False), ("0", 200, True),
                                               (None, 0, False)])
def test_the_cache_is_off_with_loop_no_cache_or_cache_mb_0(workspace, monkeypatch, env, cache_mb, on):
    if env is not None:
        monkeypatch.setenv("LOOP_NO_CACHE", env)
    config = plan_run(Workspace(workspace), {"run": {"cache_mb": cache_mb}}).config
    cache = workspace_cache(Workspace(workspace), config)
    assert cache.on is on and (cache.root == workspace / ".loop" / "cache" if on else cache.root is None)


def test_cache_clear_removes_every_entry(workspace):
    reuse(Cache(workspace / ".loop" / "cache"), ITEMS, VALUES)
    code, out, _ = run_cli("cache", "clear")
    assert code == 0 and out == "removed 3 entries from .loop/cache\n"
    _, out, _ = run_cli("cache", "info")
    assert out.splitlines()[1] == "entries   0, 0.0 MB of 200 MB"


# ---- what decides a reading ---------------------------------------------------------------------

def test_a_model_is_known_by_its_weights_and_the_adapter_acting_now(tiny):
    from peft import LoraConfig, get_peft_model
    from trl.trainer.utils import use_adapter

    from loop.model import frozen_adapter_copy

    model, tokenizer = tiny
    base = model_identity(model, tokenizer)
    policy = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules="all-linear"))
    assert model_identity(policy, tokenizer) == base  # a fresh adapter (B = 0) adds nothing yet
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)
    trained = model_identity(policy, tokenizer)
    assert trained["adapter"] is not None and trained["weights"] == base["weights"]
    frozen_adapter_copy(policy, "judge")
    with use_adapter(policy, "judge"):
        assert model_identity(policy, tokenizer) == trained  # a frozen copy is the same judge
    with use_adapter(policy, None):
        assert model_identity(policy, tokenizer) == base  # adapters off: the anchor
    with torch.no_grad():
        next(p for name, p in policy.named_parameters() if "lora_B.default" in name).add_(0.01)
    assert model_identity(policy, tokenizer)["adapter"] not in (None, trained["adapter"])


def test_peft_decides_a_reading_only_where_an_adapter_acts(tiny):
    # A base model's readings (round 0, the anchor, the shipped readings) stay valid across peft releases;
    # an adapter's are keyed by the peft that computed it. TRL never computes a reading.
    from importlib.metadata import version

    from peft import LoraConfig, get_peft_model

    from loop import cache

    model, tokenizer = tiny
    policy = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules="all-linear"))
    assert set(cache.environment()) == {"torch", "transformers", "threads"}
    assert "peft" not in model_identity(policy, tokenizer)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)
    assert model_identity(policy, tokenizer)["peft"] == version("peft")


def test_answers_read_back_are_the_answers_generated(tiny, tmp_path):
    from loop.generation import greedy_answers
    from loop.measure.probes import reused_answers

    model, tokenizer = tiny
    conversations = [[{"role": "user", "content": text}] for text in ("Yes or no?", "How to keep basil?", "2 + 2")]
    fresh = greedy_answers(model, tokenizer, conversations, 6)
    cache = Cache(tmp_path / "c")
    first = reused_answers(model, tokenizer, conversations, 6, cache, "probe")
    again = reused_answers(model, tokenizer, conversations, 6, cache, "probe")
    assert first == again == fresh and cache.counts == {"probe": {"hits": 3, "misses": 3}}
    reused_answers(model, tokenizer, conversations, 7, cache, "probe")
    assert cache.counts["probe"]["misses"] == 6  # another length bound, other answers


def tiny_judge(workspace: Path, tiny_model_dir: Path, n: int, **settings):
    """(the real judge on the tiny model reading helpful's first n labeled pairs through the workspace's
    cache, the pairs)."""
    from loop.judging.judge import Judge
    from loop.judging.judge_check import principle_pairs
    from loop.model import load_model

    plan = plan_run(Workspace(workspace), {"model": {"name": str(tiny_model_dir)}})
    model, tokenizer, _ = load_model(str(tiny_model_dir))
    judge = Judge(model, tokenizer, plan.constitution, plan.templates, plan.config.judge, **settings)
    pairs = principle_pairs(plan.constitution, plan.constitution.get("helpful"))[:n]
    return judge_trust.PairScores(plan, judge, model, workspace_cache(Workspace(workspace), plan.config)), pairs


def test_judge_readings_read_back_are_the_readings_scored(workspace, tiny_model_dir):
    from loop.judging.judge_check import judge_scores

    scores, pairs = tiny_judge(workspace, tiny_model_dir, 6)
    fresh = judge_scores(scores.judge, pairs)
    first, again = scores(pairs[0].principle, pairs), scores(pairs[0].principle, pairs)
    assert first == again == fresh and scores.cache.counts == {"pair": {"hits": 6, "misses": 6}}


def test_a_reading_read_back_counts_as_unscored_as_when_it_was_scored(workspace, tiny_model_dir):
    # No Yes/No pair holds twice the probability there is: nothing can be scored.
    scores, pairs = tiny_judge(workspace, tiny_model_dir, 3, min_mass=2.0)
    assert scores(pairs[0].principle, pairs) == scores(pairs[0].principle, pairs) == [(None, None)] * 3
    assert scores.judge.unscored == 2 * 2 * 3 and scores.cache.counts == {"pair": {"hits": 3, "misses": 3}}


class Adapter:
    """Just enough of a model for a judge's identity: one LoRA weight (B = 0: the base model)."""

    def __init__(self, trained: float = 0.0):
        self.params = [("layer.lora_B.default.weight", torch.full((2,), trained))]

    def named_parameters(self):
        return iter(self.params)


def read_pairs(workspace: Path, run: str, model=None) -> judge_trust.Trust:
    """Round 0 of a new run: the scripted judge reads every labeled pair (nothing carries over)."""
    plan = plan_run(Workspace(workspace), {}, run_name=run)
    folder = plan.ledger.begin_round(0)
    trust = judge_trust.assess(plan, 0, folder, ScriptedJudge(), model or Adapter(), Silent())
    plan.ledger.complete_round(0, {})
    return trust


def edit(relative: str, old: str, new: str):
    def apply(workspace: Path) -> None:
        path = workspace / relative
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new, 1))
    return apply


def shipped_pairs(principle: str = "*") -> int:
    """Labeled pairs in the shipped reliability split (all principles, or one)."""
    files = (defaults_dir() / "constitution" / "pairs").glob(f"{principle}.jsonl")
    return sum(1 for path in files if not path.name.endswith(".train.jsonl")
               for line in path.read_text().splitlines() if line.strip())


ALL = shipped_pairs()
EDITS = {  # edit -> (what it does to the workspace, the model that judges after it, pairs read again)
    "nothing": (lambda ws: None, None, 0),
    "principle": (edit("constitution/principles/honest.toml", "Is this answer accurate?", "Is this answer true?"),
                  None, shipped_pairs("honest")),
    "template": (edit("prompts/judge.jinja", "Answer Yes or No.", "Say Yes or No."), None, ALL),
    "pair": (edit("constitution/pairs/honest.jsonl", "The Pacific Ocean.", "The Pacific."), None, 1),
    "own template": (edit("prompts/judge_reference.jinja", "Reference answer:", "Reference:"), None, shipped_pairs("faithful")),
    "row": (edit("constitution/pairs/faithful.jsonl", "Canberra is the capital", "Canberra is the capital city"), None, 1),
    "adapter": (lambda ws: None, Adapter(0.1), ALL),
    "judge setting": (edit("loop.toml", "calibrate = true", "calibrate = false"), None, ALL),
}


@pytest.mark.parametrize("name", EDITS)
def test_an_edit_reads_again_exactly_what_it_changed(workspace, name):
    change, model, misses = EDITS[name]
    assert read_pairs(workspace, "before").cache == {"pair": {"hits": 0, "misses": ALL}}
    change(workspace)
    assert read_pairs(workspace, "after", model).cache == {"pair": {"hits": ALL - misses, "misses": misses}}


def test_a_setting_that_does_not_change_a_reading_keeps_it(workspace):
    read_pairs(workspace, "before")
    edit("loop.toml", "reliability_sample = 5", "reliability_sample = 7")(workspace)
    assert read_pairs(workspace, "after").cache == {"pair": {"hits": ALL, "misses": 0}}


# ---- a run ----------------------------------------------------------------------------------------

SMALL = {"run": {"prompts_per_round": 2, "heldout_size": 3}, "train": {"warm_start": False},
         "probes": {"per_round": 2, "max_new_tokens": 8}, "grpo": {"max_completion_length": 8}}


def round_zero(workspace: Path, tiny_model_dir: Path, run: str) -> Path:
    """Round 0 of a run on the tiny model, with the real judge."""
    run_rounds(plan_run(Workspace(workspace), {**SMALL, "model": {"name": str(tiny_model_dir)}}, run_name=run), 0)
    return workspace / "runs" / run / "round-000"


def records(folder: Path) -> tuple:
    """What a round measured, without when it ran, how long it took and what it read back from the cache."""
    files = {name: (folder / name).read_text() for name in ("eval.jsonl", "probes.jsonl", "reliability.jsonl")}
    metrics, info = json.loads((folder / "metrics.json").read_text()), json.loads((folder / "round.json").read_text())
    for record in (metrics, metrics["summary"], info, info["summary"]):
        for key in ("cache", "seconds", "phases", "started", "finished", "run"):
            record.pop(key, None)
    return files, metrics, info


@pytest.fixture(scope="module")
def three_round_zeros(tmp_path_factory, tiny_model_dir):
    """Round 0 twice in one workspace with the cache (runs "first" and "second"), and once without."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("LOOP_NO_CACHE", raising=False)
        on = init_workspace(root / "on").root
        first, second = round_zero(on, tiny_model_dir, "first"), round_zero(on, tiny_model_dir, "second")
        env.setenv("LOOP_NO_CACHE", "1")
        off = init_workspace(root / "off").root
        return on, first, second, round_zero(off, tiny_model_dir, "first")


def test_a_run_records_the_same_with_the_cache_on_and_off(three_round_zeros):
    _, first, second, without = three_round_zeros
    assert records(first) == records(second) == records(without)
    assert not (without.parent.parent.parent / ".loop").exists()


def test_a_second_runs_round_zero_reads_everything_back(three_round_zeros):
    _, first, second, _ = three_round_zeros
    measured = json.loads((first / "metrics.json").read_text())["cache"]
    read_back = json.loads((second / "metrics.json").read_text())["cache"]
    assert measured == {"heldout": {"hits": 0, "misses": 3}, "probe": {"hits": 0, "misses": 10},
                        "judgment": {"hits": 0, "misses": 15},  # 5 judged principles x 3 held-out answers
                        "gate": {"hits": 0, "misses": 200}}  # the shipped gate set, 40 a family
    assert read_back == {kind: {"hits": c["misses"], "misses": 0} for kind, c in measured.items()}
    assert json.loads((second / "round.json").read_text())["cache"] == {"pair": {"hits": ALL, "misses": 0}}


def test_cache_info_says_what_it_holds_and_what_the_latest_round_read_back(three_round_zeros):
    on, _, _, _ = three_round_zeros
    code, out, _ = run_cli("-C", str(on), "cache", "info", "--run", "second")
    lines = out.splitlines()
    assert code == 0 and lines[0] == f"cache     {on / '.loop' / 'cache'}"
    assert [line.split()[0] for line in lines[2:-1]] == ["gate", "heldout", "judgment", "pair", "probe", "weights"]
    assert lines[-1] == "read back in round 0 of run 'second': gate 200 of 200, heldout 3 of 3, judgment 15 of 15, " \
                        f"pair {ALL} of {ALL}, probe 10 of 10"
