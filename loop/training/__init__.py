"""A round read as a recipe (`round.py`), and what it is made of: the reward functions TRL calls
(`rewards.py`, with the rule checks in `rules.py`), the held-out evaluation (`evaluate.py`), the
progress a round reports (`progress.py`) and the timing of a whole round (`bench.py`).

Nothing here imports `loop.views`: the round reports progress through a callback the CLI hands it.
"""
