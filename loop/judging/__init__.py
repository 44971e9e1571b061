"""The judge and what feeds it: scores read from the model's own token probabilities.

`judge.py` orchestrates; `prompts.py` builds the judge's conversations; `passes.py` runs the model
(Yes/No next-token probabilities over a shared, cached prefix); `likelihood.py` reads the likelihood
signals; `combine.py` weighs them into a score (pure arithmetic, no model); `guard.py` cuts what
addresses the grader; `judge_check.py` and `injection.py` measure how far the judge can be trusted,
and `reliability.py` turns that into weights; `readings.py` says what decides a reading, the key
under which the content cache keeps it.
"""
