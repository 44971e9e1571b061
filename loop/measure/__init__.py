"""What measures a policy, on prompts it never trained on: every round ends here.

`outside_view.py` is the round's whole measurement (`measure_policy`): the held-out prompts answered and
judged by the round's judge and the anchor (`evaluate.py`), the probes answered and passed or failed
(`probes.py`; the probe data itself is loop/probes.py), and how far the policy moved. `diagnostics.py`
turns those records into the round's warnings; `gate.py` answers the gate set and decides whether a
round is kept.

Measurement sits below training and above the judge: the round recipes (loop/training/) call it
with their context, and nothing here imports loop.training, loop.views or loop.cli.
"""
