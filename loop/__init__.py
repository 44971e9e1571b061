"""loop: a self-rewarding constitutional AI loop.

A model answers prompts, critiques and scores its own answers against a versioned constitution,
and those self-rewards drive GRPO training round after round, every round kept in a ledger.
"""

__version__ = "0.1.0"
