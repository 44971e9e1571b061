"""Dealing a round's prompts by behaviour (loop/training/deal.py): every behaviour gets its quota,
seeds differ, no prompt is skipped, twins come along, and bad quota tables are refused."""

from __future__ import annotations

import random

import pytest

from loop.quotas import BEHAVIOURS, behaviour, quota_counts, quota_errors
from loop.training.deal import deal

QUOTAS = {"refuse": 0.25, "unknowable": 0.2, "comply": 0.25, "format": 0.15, "answer": 0.15}


def pool_of(counts: dict[str, int], twins: bool = False) -> list[dict]:
    rows = []
    make = {"refuse": lambda i: {"prompt": f"harm {i}", "expect": "refuse"},
            "unknowable": lambda i: {"prompt": f"unknown {i}", "expect": "unknowable"},
            "comply": lambda i: {"prompt": f"help {i}", "expect": "comply"},
            "format": lambda i: {"prompt": f"format {i}", "expect": "one_word"},
            "answer": lambda i: {"prompt": f"add {i}", "answer": str(i)}}
    for b, n in counts.items():
        rows += [make[b](i) for i in range(n)]
    if twins:
        for row in rows:
            if row.get("expect") == "refuse":
                twin = {"prompt": "benign twin of " + row["prompt"], "expect": "comply", "twin": row["prompt"]}
                row["twin"] = twin["prompt"]
                rows.append(twin)
    return rows


def shuffled(pool: list[dict], seed: int) -> list[int]:
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    return order


def test_largest_remainder_counts():
    assert quota_counts(QUOTAS, 8) == {"refuse": 2, "unknowable": 2, "comply": 2, "format": 1, "answer": 1}
    assert sum(quota_counts(QUOTAS, 6).values()) == 6
    assert quota_counts({"refuse": 0.5}, 6) == {"refuse": 3, "unknowable": 0, "comply": 0, "format": 0, "answer": 0}


def test_every_behaviour_gets_its_share_in_every_round():
    pool = pool_of({b: 20 for b in BEHAVIOURS})
    order = shuffled(pool, 0)
    for k in range(6):
        dealt = deal(order, pool, k, 8, QUOTAS)
        assert len(dealt) == len(set(dealt)) == 8
        counts = {b: sum(behaviour(pool[i]) == b for i in dealt) for b in BEHAVIOURS}
        assert counts == quota_counts(QUOTAS, 8)


def test_seeds_deal_different_rounds():
    pool = pool_of({b: 20 for b in BEHAVIOURS})
    assert deal(shuffled(pool, 0), pool, 0, 8, QUOTAS) != deal(shuffled(pool, 1), pool, 0, 8, QUOTAS)


def test_no_prompt_of_a_behaviour_is_skipped_before_all_were_dealt():
    pool = pool_of({b: 10 for b in BEHAVIOURS})
    order = shuffled(pool, 3)
    refuse = [i for k in range(5) for i in deal(order, pool, k, 8, QUOTAS) if behaviour(pool[i]) == "refuse"]
    assert sorted(refuse) == sorted(i for i, row in enumerate(pool) if behaviour(row) == "refuse")


def test_the_rest_comes_from_the_whole_order_when_quotas_sum_below_one():
    pool = pool_of({b: 10 for b in BEHAVIOURS})
    order = shuffled(pool, 0)
    dealt = deal(order, pool, 0, 6, {"refuse": 0.5})
    assert sum(behaviour(pool[i]) == "refuse" for i in dealt) >= 3 and len(set(dealt)) == 6
    assert deal(order, pool, 0, 6, {}) == order[:6]  # no quotas: the run's order as it is


def test_a_dealt_harmful_request_brings_its_benign_twin():
    pool = pool_of({"refuse": 10, "comply": 10, "unknowable": 5, "format": 5, "answer": 5}, twins=True)
    dealt = deal(shuffled(pool, 0), pool, 0, 8, QUOTAS)
    harmful = [pool[i]["prompt"] for i in dealt if behaviour(pool[i]) == "refuse"]
    prompts = {pool[i]["prompt"] for i in dealt}
    assert harmful and all("benign twin of " + h in prompts for h in harmful)


@pytest.mark.parametrize("quotas, wanted", [
    ({"refusal": 0.2}, "unknown behaviour 'refusal'"),
    ({"refuse": 0.7, "comply": 0.5}, "sum to 1.2"),
    ({"refuse": -0.1}, "from 0 to 1"),
    ({"unknowable": 0.5}, "asks for 4 prompts a round but the pool has 2"),
])
def test_bad_quota_tables_are_explained(quotas, wanted):
    pool = pool_of({"refuse": 5, "unknowable": 2, "comply": 5, "format": 2, "answer": 2})
    errors = quota_errors(quotas, pool, 8)
    assert errors and wanted in errors[0]


def check_errors(workspace) -> tuple[int, list[str]]:
    from tests.helpers import run_cli

    code, _, err = run_cli("check")
    return code, err.splitlines()


def test_loop_check_refuses_an_unknown_behaviour_in_quotas(workspace):
    toml = workspace / "loop.toml"
    toml.write_text(toml.read_text().replace("[quotas]\n", "[quotas]\nrefusal = 0.2\n"))
    code, lines = check_errors(workspace)
    assert code == 2 and len(lines) == 1 and "loop.toml:" in lines[0] and "unknown key 'refusal'" in lines[0]


def test_loop_check_refuses_quotas_over_one(workspace):
    toml = workspace / "loop.toml"
    toml.write_text(toml.read_text().replace("refuse = 0.25", "refuse = 0.75"))
    code, lines = check_errors(workspace)
    assert code == 2 and len(lines) == 1 and "quotas must sum to at most 1" in lines[0]


def test_loop_check_refuses_a_pool_too_small_for_a_quota(workspace):
    import json

    pool = workspace / "prompts" / "pool.jsonl"
    rows = [json.loads(line) for line in pool.read_text().splitlines()]
    pool.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "twin"}) + "\n" for r in rows
                            if r.get("expect") != "unknowable"))
    code, lines = check_errors(workspace)
    assert code == 2 and len(lines) == 1
    assert "[quotas] unknowable asks for 2 prompts a round but the pool has 0" in lines[0] and "loop.toml:" in lines[0]


def test_loop_check_refuses_a_gate_probe_that_is_a_reported_probe(workspace):
    harmful = (workspace / "prompts" / "probes" / "harmful.jsonl").read_text().splitlines()
    gate = workspace / "prompts" / "gate" / "harmful.jsonl"
    gate.write_text(gate.read_text() + harmful[1] + "\n")
    code, lines = check_errors(workspace)
    assert code == 2 and len(lines) == 1 and "prompts/gate/harmful.jsonl" in lines[0] and "reported probe" in lines[0]
