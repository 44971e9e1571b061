"""The self-judge: the reward signal of every round, read from token probabilities.

A 135M chat model does not follow "end with `Score: N`" formats (0 of 8 parseable when measured),
so a score is never parsed from text. The judge is asked a Yes/No question about one principle and
the score is read from its next-token distribution: P(Yes) / (P(Yes) + P(No)), where each side sums
the single-token spellings of the word ("Yes", " Yes", "yes", " yes"). Two modes:

- `score`: one forward pass per response; the question comes right after the response.
- `critique`: the judge first writes a short critique (greedy, bounded), then is asked for the
  verdict with its critique in context, so it reasons before it scores (as DeepSeek-V3's generative
  reward model does). Slower: a generation per response.

Where the verdict alone is weak, a principle adds likelihood signals to its log-odds with weights it
names (`lift`, `relevance`, `prior`, `specificity`; loop/judging/likelihood.py). What was tried and measured to get
here (wordings, few-shots, signals and their weights) is in the README, "How good is the judge?".

"Could not score" is `None`, never 0 (loop/judging/combine.py): TRL leaves None out of the group
statistics; `Judge.unscored` counts them.

This module is the recipe only: the conversations come from prompts.py, the forward passes from
passes.py and likelihood.py, the arithmetic from combine.py. In a round, the principles that weigh
likelihood signals read the same plain pass over the same completions; calls that name a `view` (a
frozen model state: the round judge or the anchor) compute each such pass once and share it.

The Judge uses the model as handed to it (perhaps a peft model with the judge's adapter active):
it switches to eval mode for its work and restores the previous mode, and never touches gradients
or adapters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

from loop.config import JudgeSection
from loop.constitution import SIGNALS, Constitution, Principle
from loop.generation import generate_greedy
from loop.judging.combine import MIN_MASS, combine, evidence
from loop.judging.guard import guarded_view
from loop.judging.likelihood import likelihood_signals
from loop.judging.passes import KeptPrefix, verdict_token_ids, yes_no
from loop.judging.prompts import judge_conversation, verdict_template
from loop.stats import mean
from loop.templates import Templates, judge_template

# Likelihood passes remembered per view before that view's memo starts over.
MEMO_ENTRIES = 100_000


@dataclass
class Critique:
    """One judgment of one response against one principle."""

    principle: str
    critique: str  # "" in score mode
    score: float | None  # in [0, 1]; None = could not score
    distribution: dict[str, float] | None  # the raw probabilities the score came from
    template_sha256: str
    constitution_version: str
    constitution_sha256: str
    model: str
    # Sentences cut from the judge's view because they address the grader (loop/judging/guard.py):
    # [{"text": ..., "reason": ...}]; the score is of the response without them.
    cuts: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class Judge:
    """Scores (prompt, response) pairs against one principle at a time; see the module docstring.

    `settings` is loop.toml's [judge] section (defaults when left out); keyword overrides replace
    single fields of it (`Judge(..., mode="critique")`), so the settings and their defaults are
    declared once, in loop.config.JudgeSection. The keyword-only knobs are for tests and benchmarks."""

    def __init__(self, model, tokenizer, constitution: Constitution, templates: Templates,
                 settings: JudgeSection | None = None, *, model_id: str = "embedded", prefix_cache: bool = True,
                 min_mass: float = MIN_MASS, system: str | None = None, **overrides):
        self.settings = dataclasses.replace(settings or JudgeSection(), **overrides)
        self.model, self.tokenizer = model, tokenizer
        self.constitution, self.templates = constitution, templates
        self.model_id, self.prefix_cache, self.min_mass, self.system = model_id, prefix_cache, min_mass, system
        self.yes_ids, self.no_ids = verdict_token_ids(tokenizer)
        self.unscored = 0  # None scores returned so far
        # Likelihood passes already computed, per view (see `score`): {view: {key: mean log-prob}}.
        self._memos: dict[str, dict] = {}
        # Verdict prefixes kept per (view, principle) from call to call (loop/judging/passes.py).
        self._prefixes: dict[tuple, KeptPrefix] = {}

    @property
    def batch_size(self) -> int:
        return max(1, self.settings.batch_size)

    # ---- public -------------------------------------------------------------------------------

    def score(self, prompts: list[str], responses: list[str], principle_id: str | None = None, *,
              principle: Principle | None = None, view: str | None = None,
              rows: list[dict] | None = None) -> list[Critique]:
        """Judge each (prompt, response) against one principle (an id, or an ad-hoc Principle).

        `rows`: each prompt's pool row, for the templates that read its columns (a reference answer, the
        category); an answer whose row lacks a column its template needs could not be scored (None).

        `view` names a state of the model that does not change while this Judge lives (a round's frozen
        judge adapter, or the anchor). Calls with the same view share their likelihood passes: the
        principles that read log P(response | prompt) compute it once per response, not once each."""
        if len(prompts) != len(responses) or (rows is not None and len(rows) != len(prompts)):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses"
                             + ("" if rows is None else f" and {len(rows)} rows"))
        if principle is None:
            principle = self.constitution.get(principle_id)
        if not prompts:
            return []
        was_training = self.model.training
        self.model.eval()
        try:
            rows = [dict(row or {}) for row in rows] if rows is not None else [{} for _ in prompts]
            # An answer whose row lacks a column its template needs is not shown to the model at all.
            able = [i for i, row in enumerate(rows)
                    if not any(self.templates.missing(name, row) for name in self._templates(principle, row))]
            judged = dict(zip(able, self._score([prompts[i] for i in able], [responses[i] for i in able], principle,
                                                view, [rows[i] for i in able]) if able else []))
            crits = [judged.get(i) or self._unscorable(principle, rows[i]) for i in range(len(prompts))]
        finally:
            self.model.train(was_training)
        self.unscored += sum(c.score is None for c in crits)
        return crits

    # ---- the recipe ---------------------------------------------------------------------------

    def _templates(self, principle: Principle, row: dict) -> tuple[str, ...]:
        """The templates an answer is judged with: its principle's judge template for the row in score
        mode; critique.jinja and verdict.jinja in critique mode."""
        return (judge_template(principle, row),) if self.settings.mode == "score" else ("critique", "verdict")

    def _unscorable(self, principle: Principle, row: dict) -> Critique:
        """The judgment of an answer its template cannot be rendered for: could not score (None)."""
        missing = sorted({c for name in self._templates(principle, row) for c in self.templates.missing(name, row)})
        return Critique(principle=principle.id, critique=f"not judged: no {', '.join(missing)} for this prompt",
                        score=None, distribution=None, template_sha256=self.templates.sha256(self._templates(principle, row)[0]),
                        constitution_version=self.constitution.version, constitution_sha256=self.constitution.sha256,
                        model=self.model_id)

    def _score(self, prompts: list[str], responses: list[str], principle: Principle,
               view: str | None, rows: list[dict]) -> list[Critique]:
        mode = self.settings.mode
        # The judge reads each response without the sentences that talk to it: they can gain nothing.
        cuts: list[list] = [[] for _ in responses]
        if self.settings.guard:
            views = [guarded_view(p, r) for p, r in zip(prompts, responses)]
            responses, cuts = [v for v, _ in views], [c for _, c in views]
        # An answer with nothing left to judge (not one letter or digit, or all of it cut by the guard)
        # fails every judged principle: 0, not None (it was judged), and not the calibrated 0.5 an empty
        # answer reads as the very baseline it is, or more where a signal favours it (harmless scored ""
        # and "." above good answers): a policy paid for silence learns to say nothing.
        blank = [not any(ch.isalnum() for ch in r) for r in responses]
        critiques = [""] * len(prompts)
        if mode == "critique":
            critiques = generate_greedy(
                self.model, self.tokenizer, [self._conversation("critique", principle, p, r, row=row)
                                             for p, r, row in zip(prompts, responses, rows)],
                max_new_tokens=self.settings.critique_tokens, batch_size=self.batch_size)
        name = verdict_template(mode)
        conversations = [self._conversation(name, principle, p, r, c, row=row)
                         for p, r, c, row in zip(prompts, responses, critiques, rows)]
        # Calibration: the judge's verdict on an empty response, once per distinct prompt and row (GRPO
        # repeats prompts), judged in the same call so the shared prefix is computed once for both.
        keys = [(p, repr(sorted(row.items()))) for p, row in zip(prompts, rows)]
        first: dict[tuple, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        firsts = list(first.values()) if self.settings.calibrate else []
        dists = yes_no(self.model, self.tokenizer, conversations + [self._conversation(name, principle, prompts[i], "", "",
                                                                                        row=rows[i]) for i in firsts],
                       self.yes_ids, self.no_ids, batch_size=self.batch_size, prefix_cache=self.prefix_cache,
                       kept=self._kept(view, principle))
        by_prompt = {keys[i]: dist for i, dist in zip(firsts, dists[len(prompts):])}
        weights, signals, centers = self._signals(prompts, responses, principle, view)
        out = []
        for i, (verdict, text, cut) in enumerate(zip(dists[:len(prompts)], critiques, cuts)):
            own = {name: signals[name][i] for name in weights}
            baseline = by_prompt.get(keys[i])
            score = combine(verdict, own, weights, baseline=baseline, centers=centers, blank=blank[i],
                            min_mass=self.min_mass)
            out.append(Critique(
                principle=principle.id, critique=text, score=score,
                distribution=evidence(verdict, own, baseline=baseline, centers=centers, blank=blank[i]),
                template_sha256=self.templates.sha256(self._templates(principle, rows[i])[0]),
                constitution_version=self.constitution.version,
                constitution_sha256=self.constitution.sha256, model=self.model_id,
                cuts=[{"text": c.text, "reason": c.reason} for c in cut]))
        return out

    def _signals(self, prompts: list[str], responses: list[str], principle: Principle, view: str | None):
        """(weights, signals, centers) of the likelihood signals the principle weighs (loop/judging/likelihood.py).

        Does the principle make the model likelier to write this response (lift), does the question
        (relevance), is it the model's own kind of reply (prior), is it no more predictable than a
        labeled answer (specificity)? Each principle weighs the ones measured to help it. The prior has
        no natural zero (about -3 a token), so its center is its mean over the principle's labeled
        answers (good and bad), as the verdict is calibrated: raw, it pinned every polite score near 0
        and left GRPO no spread to learn from.

        Specificity is min(0, center - prior): a reply the model finds likelier, token for token, than
        its labeled answers are on average ("it depends on many factors", the question said back)
        loses that many nats a token; a reply at or beyond the center loses nothing. One-sided on
        purpose: the model's surprise itself (-prior) reads specific answers well, but it ranks word
        salad above the answer it was shuffled from (README, "How good is the judge?"), so surprise
        beyond the labeled answers earns nothing."""
        weights = {name: getattr(principle, name) for name in SIGNALS if getattr(principle, name) > 0}
        if not weights:
            return weights, {}, {}
        read = tuple(dict.fromkeys("prior" if name == "specificity" else name for name in weights))
        system = self.templates.render("lift", principle=principle) if "lift" in weights else ""
        labeled = ([(e.prompt, answer) for e in principle.examples for answer in (e.good, e.bad)]
                   if "prior" in read else [])
        signals = likelihood_signals(self.model, self.tokenizer, prompts + [p for p, _ in labeled],
                                     responses + [a for _, a in labeled], read,
                                     system=system, batch_size=self.batch_size, memo=self._memo(view))
        center = mean(signals["prior"][len(prompts):]) if labeled else 0.0
        if "specificity" in weights:
            signals["specificity"] = [min(0.0, center - value) for value in signals["prior"]]
        centers = {"prior": center} if labeled and "prior" in weights else {}
        return weights, signals, centers

    def _kept(self, view: str | None, principle: Principle) -> KeptPrefix | None:
        """The verdict prefix kept for this principle in a frozen view (its few-shot turns); None without
        a view. One per principle and view: ~35 MB each for the embedded model and the shipped examples."""
        if view is None:
            return None
        return self._prefixes.setdefault((view, principle.id), KeptPrefix())

    def _memo(self, view: str | None) -> dict | None:
        """The likelihood memo of a frozen view; None (nothing remembered) without one."""
        if view is None:
            return None
        memo = self._memos.setdefault(view, {})
        if len(memo) > MEMO_ENTRIES:  # a bound on a long-lived view; a float an entry
            memo.clear()
        return memo

    def _conversation(self, name: str, principle: Principle, prompt: str, response: str, critique: str = "",
                      row: dict | None = None):
        return judge_conversation(self.templates, name, principle, prompt, response, critique,
                                  few_shot=self.settings.few_shot, system=self.system, row=row)
