"""The ledger: every round of a run on disk, complete or not at all (see `store.py` for the layout).

`store.py` holds the run and round folders, the atomic publish, the lock and the reconcile after a
crash; `queries.py` finds the run a command reads and asks what its rounds recorded; `summary.py`
draws the round summary kept as summary.txt; `policy.py` loads the policy a complete round left;
`export.py` and `model_card.py` turn a complete round into a plain model directory. The names most
callers need are importable from here; the export is imported by path, since it loads transformers
and peft, and the view commands must start fast. The critique recorder, which writes a round's
critiques as training goes, is a trainer callback and lives with training (loop/training/recorder.py).
"""

from loop.ledger.store import (CRITIQUE_KEYS, EVAL_KEYS, Ledger, append_jsonl, now, parse_round_name, read_jsonl,
                               round_name, write_snapshot)

__all__ = ["CRITIQUE_KEYS", "EVAL_KEYS", "Ledger", "append_jsonl", "now", "parse_round_name", "read_jsonl",
           "round_name", "write_snapshot"]
