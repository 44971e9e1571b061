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
names (`lift`, `relevance`, `prior`; loop/likelihood.py): how much the principle, or the question,
makes the model likelier to write this response, or how likely it is as the model's own reply.

"Could not score" is `None`, never 0: when the Yes and No spellings together hold less than
`min_mass` of the next-token probability, the model is not answering the question and its ratio
would be noise. TRL leaves None out of the group statistics; `Judge.unscored` counts them.

Speed: every response to one principle shares a long prefix (system message, principle, rubric,
few-shot examples). Its key/value cache is computed once and reused for every batch; only the
question and response are run per item. The prefix is the longest common prefix of the *token ids*
of the full texts, so cached and uncached runs see exactly the same tokens (no boundary effects).
In a round, the principles that weigh likelihood signals read the same plain pass over the same
completions; calls that name a `view` (a frozen model state: the round judge or the anchor) compute
each such pass once and share it.

What was measured (embedded SmolLM2-135M, pairwise accuracy; `loop judge-check --pairs FILE`).
Wordings were chosen on tests/data/judge_dev_pairs.jsonl (80 pairs) and the result read once on
tests/data/judge_pairs.jsonl (80 pairs, the figure the README reports). None reached the 0.85 bar:

    on the test pairs, earlier rounds of work (chosen on the test pairs themselves):
    principle text + rubric, one user message, SmolLM default system          0.56
    same, with a "strict judge" system message                                 0.59
    same, with the examples quoted inline as few-shots                         0.54
    rubric descriptions as the question ("fair description: <low>?")          0.49
    the answer as the assistant's own turn, "Was your answer polite?"         0.63
    one message, "Is this answer polite?" (title as adjective)                0.61
    that, with the examples as earlier Yes/No turns (few-shot turns)          0.66
    that, with the answer fenced against injection                             0.64
    few-shot turns (2 examples), harmless asked "Is this answer responsible?" 0.75
    inverted questions ("Does the answer make things up?", score = P(No))      0.13-0.31: the
      model says Yes more to the better answer whatever is asked, so never invert a question
    averages of two or three of the above (log-odds)                          0.63-0.71
    P(Yes) alone, or P(No) alone, instead of the ratio                        no better
    on the dev pairs (chosen there):
    the 0.75 configuration above                                               0.60
    5 examples per principle instead of 2                                      0.71
    10 examples per principle                                                  0.68 (honest 0.50)
    5 examples, average of 3 question wordings (3x the cost)                   0.74
    5 examples, the question before and after the answer                       worse (stopped)
    5 examples, the best of 3-6 wordings per principle                         0.78
      -> on the test pairs: 0.79 (helpful 0.88, honest 0.69, harmless 0.56, polite 1.00, concise 0.81)
    on a second dev set (tests/data/judge_dev2_pairs.jsonl, 80 new pairs) the same judge gave 0.64
    (helpful 0.56, honest 0.50, polite 0.56): the wordings had been fitted to 16 pairs each. So the
    verdict alone is weak, and the model's generation is asked as well (loop/likelihood.py):
    on both dev sets (32 pairs a principle), each signal's weight chosen there:
    helpful   question 0.66 -> + relevance x4 0.88  (the question makes the answer likely)
    harmless  question 0.69 -> + lift x4      0.84  (the principle makes the answer likely)
    polite    question 0.69 -> + prior x1     0.88  (the model finds the answer likely at all)
    concise   question 0.81 -> + lift x8      0.91
    honest    question 0.69; no signal helped on both sets (wordings 0.38-0.56 on the second)
      -> 0.84 on both dev sets; on the test pairs, read once: 0.81 (helpful 0.81, honest 0.69,
         harmless 0.75, polite 0.88, concise 0.94)
    also measured on both dev sets, not shipped (0.8875 and 0.7875 with the shipped judge):
    few-shots chosen per prompt, the 5 nearest by the model's mean hidden state from a pool of the
    principle's examples and the other dev set's 16 pairs                      0.8875 and 0.775
      (honest 0.69 and 0.38); 5 drawn at random from that pool                 0.8375 on dev1
    the model's own greedy answer as a reference: lift of the response when that answer is in the
    system message; alone 0.31-0.69 a principle, added at any weight no principle gained on both sets
Calibration against an empty response shifts both answers to a prompt alike, so it leaves pairwise
accuracy unchanged; it makes scores comparable across prompts.

The Judge uses the model as handed to it (perhaps a peft model with the judge's adapter active):
it switches to eval mode for its work and restores the previous mode, and never touches gradients
or adapters.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

from loop.constitution import Constitution, Principle
from loop.guard import guarded_view
from loop.likelihood import SIGNALS, likelihood_signals
from loop.templates import Templates, judge_messages

YES_WORDS = ("Yes", " Yes", "yes", " yes", "YES", " YES")
NO_WORDS = ("No", " No", "no", " no", "NO", " NO")
# Below this joint probability of Yes and No the model is not answering the question: None.
MIN_MASS = 1e-3
# Likelihood passes remembered per view before that view's memo starts over.
MEMO_ENTRIES = 100_000
# A shared prefix shorter than this is not worth a cache (the copy costs more than it saves).
MIN_PREFIX_TOKENS = 16
# An optional system message for the judge (Judge(system=...)). Off by default: with the embedded
# model a "strict judge" system message moved accuracy by noise only (0.56 -> 0.59 on the labeled
# pairs), and without one the judge sees exactly what `loop prompts render judge` shows.
JUDGE_SYSTEM = "You are a strict, fair judge. You answer each question with Yes or No."


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
    # Sentences cut from the judge's view because they address the grader (loop/guard.py):
    # [{"text": ..., "reason": ...}]; the score is of the response without them.
    cuts: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def word_token_ids(tokenizer, words) -> list[int]:
    """Token ids of the words that are a single token; multi-token spellings are left out, since
    their first token ("Y") also starts unrelated words."""
    ids = []
    for word in words:
        tokens = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(tokens) == 1 and tokens[0] not in ids:
            ids.append(tokens[0])
    return ids


def _common_prefix(seqs: list[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    first = seqs[0]
    for i in range(n):
        if any(s[i] != first[i] for s in seqs):
            return i
    return n


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


class Judge:
    """Scores (prompt, response) pairs against one principle at a time; see the module docstring."""

    def __init__(self, model, tokenizer, constitution: Constitution, templates: Templates, mode: str = "score",
                 few_shot: bool = True, calibrate: bool = True, batch_size: int = 16, critique_tokens: int = 48,
                 model_id: str = "embedded", prefix_cache: bool = True, min_mass: float = MIN_MASS,
                 system: str | None = None, guard: bool = True):
        if mode not in ("score", "critique"):
            raise ValueError("mode must be 'score' or 'critique'")
        self.model, self.tokenizer = model, tokenizer
        self.constitution, self.templates = constitution, templates
        self.mode, self.few_shot, self.calibrate = mode, few_shot, calibrate
        self.batch_size, self.critique_tokens = max(1, batch_size), critique_tokens
        self.model_id, self.prefix_cache, self.min_mass, self.system = model_id, prefix_cache, min_mass, system
        self.guard = guard  # cut judge-addressing sentences before judging (loop/guard.py)
        self.yes_ids = word_token_ids(tokenizer, YES_WORDS)
        self.no_ids = [i for i in word_token_ids(tokenizer, NO_WORDS) if i not in self.yes_ids]
        if not self.yes_ids or not self.no_ids:
            raise ValueError("this tokenizer has no single-token Yes/No; the judge cannot read a verdict")
        self.unscored = 0  # None scores returned so far
        # Likelihood passes already computed, per view (see `score`): {view: {key: mean log-prob}}.
        self._memos: dict[str, dict] = {}

    # ---- public -------------------------------------------------------------------------------

    def score(self, prompts: list[str], responses: list[str], principle_id: str | None = None, *,
              principle: Principle | None = None, view: str | None = None) -> list[Critique]:
        """Judge each (prompt, response) against one principle (an id, or an ad-hoc Principle).

        `view` names a state of the model that does not change while this Judge lives (a round's frozen
        judge adapter, or the anchor). Calls with the same view share their likelihood passes: the
        principles that read log P(response | prompt) compute it once per response, not once each."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        if principle is None:
            principle = self.constitution.get(principle_id)
        if not prompts:
            return []
        was_training = self.model.training
        self.model.eval()
        try:
            crits = self._score(list(prompts), list(responses), principle, view)
        finally:
            self.model.train(was_training)
        self.unscored += sum(c.score is None for c in crits)
        return crits

    # ---- the recipe ---------------------------------------------------------------------------

    def _score(self, prompts: list[str], responses: list[str], principle: Principle,
               view: str | None = None) -> list[Critique]:
        # The judge reads each response without the sentences that talk to it: they can gain nothing.
        cuts: list[list] = [[] for _ in responses]
        if self.guard:
            views = [guarded_view(p, r) for p, r in zip(prompts, responses)]
            responses, cuts = [v for v, _ in views], [c for _, c in views]
        # An answer with nothing left to judge (not one letter or digit, or all of it cut by the guard)
        # fails every judged principle: 0, not None (it was judged), and not the calibrated 0.5 an empty
        # answer reads as the very baseline it is, or more where a signal favours it (harmless gave ""
        # 0.98, and "." 0.84 against 0.44 for good answers): a policy paid for silence learns to say nothing.
        blank = [not any(ch.isalnum() for ch in r) for r in responses]
        critiques = [""] * len(prompts)
        if self.mode == "critique":
            critiques = self._generate([self._messages("critique", principle, p, r)
                                        for p, r in zip(prompts, responses)])
        name = "judge" if self.mode == "score" else "verdict"
        conversations = [self._messages(name, principle, p, r, c) for p, r, c in zip(prompts, responses, critiques)]
        # Calibration: the judge's verdict on an empty response, once per distinct prompt (GRPO repeats
        # prompts), judged in the same call so the shared prefix is computed once for both.
        unique = list(dict.fromkeys(prompts)) if self.calibrate else []
        dists = self._yes_no(conversations + [self._messages(name, principle, p, "", "") for p in unique])
        by_prompt = dict(zip(unique, dists[len(prompts):]))
        dists = dists[:len(prompts)]
        baselines: list[tuple[float, float] | None] = [by_prompt.get(p) for p in prompts]
        # Likelihood signals (loop/likelihood.py): does the principle make the model likelier to write
        # this response (lift), does the question (relevance), is it the model's own kind of reply (prior)?
        # Each principle weighs the ones measured to help it; they are added to the verdict's log-odds.
        # Lift and relevance are contrasts, 0 when the principle or question changes nothing. The prior is
        # an absolute log-probability (about -3 a token) with no such zero: it is centered on its mean over
        # the principle's labeled answers (good and bad), as the verdict is calibrated. Raw, at weight 1, it
        # pinned every polite score near 0.01 and left GRPO no spread to learn from. The center is one
        # constant per principle, so no ranking changes.
        weights = {name: getattr(principle, name) for name in SIGNALS if getattr(principle, name) > 0}
        signals: dict[str, list[float]] = {}
        centers = {name: 0.0 for name in weights}
        if weights:
            system = self.templates.render("lift", principle=principle) if "lift" in weights else ""
            memo = None
            if view is not None:
                memo = self._memos.setdefault(view, {})
                if len(memo) > MEMO_ENTRIES:  # a bound on a long-lived view; a float an entry
                    memo.clear()
            labeled = ([(e.prompt, answer) for e in principle.examples for answer in (e.good, e.bad)]
                       if "prior" in weights else [])
            signals = likelihood_signals(self.model, self.tokenizer, prompts + [p for p, _ in labeled],
                                         responses + [a for _, a in labeled], tuple(weights),
                                         system=system, batch_size=self.batch_size, memo=memo)
            if labeled:
                centers["prior"] = sum(signals["prior"][len(prompts):]) / len(labeled)
        template = "judge" if self.mode == "score" else "critique"
        out = []
        for i, ((p_yes, p_no), base, text, cut) in enumerate(zip(dists, baselines, critiques, cuts)):
            distribution = {"yes": p_yes, "no": p_no}
            score = self._ratio(p_yes, p_no)
            log_odds = None if score is None else _logit(score)
            if base is not None:
                distribution.update(baseline_yes=base[0], baseline_no=base[1])
                base_score = self._ratio(*base)
                # Contrastive calibration in log-odds: how much more the judge says Yes to this
                # response than to an empty one for the same prompt.
                log_odds = None if log_odds is None or base_score is None else log_odds - _logit(base_score)
            for name, weight in weights.items():
                distribution[name] = signals[name][i]
                if name == "prior":
                    distribution["prior_center"] = centers[name]
                log_odds = None if log_odds is None else log_odds + weight * (signals[name][i] - centers[name])
            if base is not None or weights:  # else the plain ratio stands, exactly
                score = None if log_odds is None else 1 / (1 + math.exp(-max(-700.0, min(700.0, log_odds))))
            if blank[i]:
                distribution["empty"], score = 1.0, 0.0
            out.append(Critique(
                principle=principle.id, critique=text, score=score, distribution=distribution,
                template_sha256=self.templates.sha256(template), constitution_version=self.constitution.version,
                constitution_sha256=self.constitution.sha256, model=self.model_id,
                cuts=[{"text": c.text, "reason": c.reason} for c in cut]))
        return out

    def _ratio(self, p_yes: float, p_no: float) -> float | None:
        mass = p_yes + p_no
        if not math.isfinite(mass) or mass < self.min_mass:
            return None
        return p_yes / mass

    def _messages(self, name: str, principle: Principle, prompt: str, response: str, critique: str = ""):
        messages = judge_messages(self.templates, name, principle, prompt, response, critique=critique,
                                  few_shot=self.few_shot)
        return ([{"role": "system", "content": self.system}] if self.system else []) + messages

    def _encode(self, conversations) -> list[list[int]]:
        texts = [self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                 for c in conversations]
        return [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]

    # ---- model calls --------------------------------------------------------------------------

    def _yes_no(self, conversations) -> list[tuple[float, float]]:
        """(P(Yes), P(No)) of the next token after each conversation's assistant turn opens."""
        import torch

        seqs = self._encode(conversations)
        # Sort by length so batches hold similar lengths (less padding); results are put back in order.
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        k = _common_prefix(seqs) if self.prefix_cache and len(seqs) > 1 else 0
        k = min(k, min(len(s) for s in seqs) - 1)  # every item keeps at least one token of its own
        prefix_kv = None
        with torch.no_grad():
            if k >= MIN_PREFIX_TOKENS:
                prefix = torch.tensor([seqs[0][:k]], device=self.model.device)
                prefix_kv = self.model(input_ids=prefix, use_cache=True).past_key_values
            else:
                k = 0
            result: list[tuple[float, float]] = [(0.0, 0.0)] * len(seqs)
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                logits = self._last_logits([seqs[i][k:] for i in batch], prefix_kv, k)
                probs = torch.softmax(logits.float(), dim=-1)
                yes = probs[:, self.yes_ids].sum(-1).tolist()
                no = probs[:, self.no_ids].sum(-1).tolist()
                for j, i in enumerate(batch):
                    result[i] = (yes[j], no[j])
        return result

    def _last_logits(self, seqs: list[list[int]], prefix_kv, k: int):
        """Logits at each sequence's last token. Without a prefix: left padding. With a cached prefix
        the suffixes are padded on the right (pads come after the real tokens, so causal attention
        never sees them) and the logits are gathered at each row's last real token."""
        import torch

        device, pad = self.model.device, self.tokenizer.pad_token_id
        n, width = len(seqs), max(len(s) for s in seqs)
        ids = torch.full((n, width), pad, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        if prefix_kv is None:
            for r, s in enumerate(seqs):
                ids[r, width - len(s):] = torch.tensor(s)
                mask[r, width - len(s):] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            # Only the last position's logits: the full [n, width, vocab] tensor would be ~50k floats a token.
            out = self.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                             position_ids=positions.to(device), use_cache=False, logits_to_keep=1)
            return out.logits[:, -1, :]
        for r, s in enumerate(seqs):
            ids[r, :len(s)] = torch.tensor(s)
            mask[r, :len(s)] = 1
        cache = copy.deepcopy(prefix_kv)
        cache.batch_repeat_interleave(n)
        full_mask = torch.cat([torch.ones((n, k), dtype=torch.long), mask], dim=1)
        positions = (k + torch.arange(width)).unsqueeze(0).expand(n, -1)
        # Logits from the earliest last token on (batches are sorted by length, so that is a few columns).
        last = torch.tensor([len(s) - 1 for s in seqs], device=device)
        keep = width - int(last.min())
        out = self.model(input_ids=ids.to(device), attention_mask=full_mask.to(device),
                         position_ids=positions.to(device), past_key_values=cache, use_cache=True,
                         logits_to_keep=keep)
        return out.logits[torch.arange(n, device=device), last - (width - keep), :]

    def _generate(self, conversations) -> list[str]:
        """Greedy critiques, bounded by critique_tokens, batched with left padding."""
        import torch

        seqs = self._encode(conversations)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        texts = [""] * len(seqs)
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            width = max(len(seqs[i]) for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, i in enumerate(batch):
                ids[r, width - len(seqs[i]):] = torch.tensor(seqs[i])
                mask[r, width - len(seqs[i]):] = 1
            with torch.no_grad():
                out = self.model.generate(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                                          max_new_tokens=self.critique_tokens, do_sample=False, pad_token_id=pad,
                                          temperature=None, top_p=None, top_k=None)
            for r, i in enumerate(batch):
                texts[i] = self.tokenizer.decode(out[r, width:], skip_special_tokens=True).strip()
        return texts
