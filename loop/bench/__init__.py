"""`loop bench`: what a person runs to measure speed, memory and efficacy on this machine (never
asserted in tests).

`round.py` times one real self-rewarding round; `step.py` one plain TRL GRPO step against loop's
self-judged step, with the inference-only baseline measured in a process of its own; `judge.py` the
judge's pairs per second; `timing.py` holds what they time with (a timed judge, a step clock, peak
memory, the machine). `head_to_head.py` is `loop bench efficacy`: GRPO against DPO from the same start.

Benchmarks sit above training and measurement (they run rounds and steps as `loop run` does) and
beside the views: the CLI prints their plain results with loop/views/bench_view.py.
"""
