"""Principle lift on the tiny random model: the numbers are what the definition says they are.

The lift is a mean over the response's tokens of log P(token | principle system message, prompt) minus
log P(token | prompt). These tests recompute it from single, unpadded forward passes and check the
batched, padded code against that, then check how the judge folds it into a score.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from loop.constitution import Principle, load_constitution
from loop.judging.judge import Judge
from loop.judging.likelihood import _after_shared_head, _split, likelihood_signals, response_logprobs
from loop.templates import load_templates
from tests.helpers import REPO

PROMPTS = ["What is 2 + 2?", "How do I keep basil fresh?", "Is a tomato a fruit?"]
RESPONSES = ["4.", "Stand the stems in water, like flowers, and keep it out of the fridge.", ""]
SYSTEM = "You are a helpful AI assistant. Always follow this principle: The response is brief."


def reference_logprobs(model, tokenizer, messages, response) -> list[float]:
    """One conversation, no padding, no logits_to_keep: the plain definition."""
    head, tail = _split(tokenizer, messages, response)
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    return [logp[len(head) - 1 + k, t].item() for k, t in enumerate(tail)]


def test_turn_split_keeps_the_response_and_its_end_of_turn(tiny):
    _, tokenizer = tiny
    messages = [{"role": "user", "content": "Hi"}]
    head, tail = _split(tokenizer, messages, "Hello there.")
    text = tokenizer.decode(tail)
    assert text.startswith("Hello there.") and len(text) > len("Hello there.")  # the end-of-turn marker
    assert _split(tokenizer, messages, "")[1]  # an empty response still has its end-of-turn token


def test_batched_padded_logprobs_equal_the_definition(tiny):
    model, tokenizer = tiny
    conversations = [([{"role": "user", "content": p}], r) for p, r in zip(PROMPTS, RESPONSES)]
    conversations += [([{"role": "system", "content": SYSTEM}, {"role": "user", "content": p}], r)
                      for p, r in zip(PROMPTS, RESPONSES)]
    batched = response_logprobs(model, tokenizer, conversations, batch_size=4)
    for (messages, response), got in zip(conversations, batched):
        assert got == pytest.approx(reference_logprobs(model, tokenizer, messages, response), abs=1e-4)


def test_responses_to_one_conversation_run_after_its_shared_head_and_equal_the_definition(tiny, monkeypatch):
    from loop.judging import likelihood

    model, tokenizer = tiny
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPTS[1]}]
    conversations = [(messages, r) for r in RESPONSES + ["Yes.", "No, keep it in the fridge."]]
    shared = []
    monkeypatch.setattr(likelihood, "_after_shared_head", lambda *a: shared.append(a) or
                        _after_shared_head(*a))  # a GRPO group: one head, five answers
    grouped = response_logprobs(model, tokenizer, conversations, batch_size=2)
    assert len(shared) == 1
    for (m, response), got in zip(conversations, grouped):
        assert got == pytest.approx(reference_logprobs(model, tokenizer, m, response), abs=1e-4)


def test_lift_is_the_mean_log_ratio_and_does_not_depend_on_the_batch(tiny):
    model, tokenizer = tiny
    lifts = likelihood_signals(model, tokenizer, PROMPTS, RESPONSES, ("lift",), system=SYSTEM, batch_size=2)["lift"]
    for prompt, response, lift in zip(PROMPTS, RESPONSES, lifts):
        steered = reference_logprobs(model, tokenizer, [{"role": "system", "content": SYSTEM},
                                                        {"role": "user", "content": prompt}], response)
        plain = reference_logprobs(model, tokenizer, [{"role": "user", "content": prompt}], response)
        assert lift == pytest.approx(sum(a - b for a, b in zip(steered, plain)) / len(plain), abs=1e-4)
        assert math.isfinite(lift)
    one_by_one = [likelihood_signals(model, tokenizer, [p], [r], ("lift",), system=SYSTEM)["lift"][0]
                  for p, r in zip(PROMPTS, RESPONSES)]
    assert lifts == pytest.approx(one_by_one, abs=1e-4)


def test_judge_adds_the_weighted_lift_to_the_calibrated_log_odds(tiny):
    model, tokenizer = tiny
    constitution = load_constitution(REPO / "constitution")
    templates = load_templates(REPO / "prompts", constitution)
    plain = Principle(id="brief", title="Brief", text="The response is brief.")
    lifted = Principle(id="brief", title="Brief", text="The response is brief.", lift=3.0)
    judge = Judge(model, tokenizer, constitution, templates, model_id="tiny")
    without = judge.score(PROMPTS, RESPONSES, principle=plain)
    with_lift = judge.score(PROMPTS, RESPONSES, principle=lifted)
    lifts = likelihood_signals(model, tokenizer, PROMPTS, RESPONSES, ("lift",),
                               system=templates.render("lift", principle=lifted))["lift"]
    for a, b, lift, response in zip(without, with_lift, lifts, RESPONSES):
        assert "lift" not in a.distribution and b.distribution["lift"] == pytest.approx(lift, abs=1e-5)
        if not response:  # nothing to judge: 0 whatever the signals say (tests/test_judge.py)
            assert a.score == b.score == 0.0
            continue
        logit = lambda p: math.log(p / (1 - p))  # noqa: E731
        assert logit(b.score) == pytest.approx(logit(a.score) + 3.0 * lift, abs=1e-4)


def test_relevance_is_the_contrast_with_an_empty_user_turn(tiny):
    model, tokenizer = tiny
    got = likelihood_signals(model, tokenizer, PROMPTS, RESPONSES, ("relevance", "prior"), batch_size=2)
    assert list(got) == ["relevance", "prior"]
    for prompt, response, relevance, prior in zip(PROMPTS, RESPONSES, got["relevance"], got["prior"]):
        plain = reference_logprobs(model, tokenizer, [{"role": "user", "content": prompt}], response)
        empty = reference_logprobs(model, tokenizer, [{"role": "user", "content": ""}], response)
        assert prior == pytest.approx(sum(plain) / len(plain), abs=1e-4) and prior < 0
        assert relevance == pytest.approx((sum(plain) - sum(empty)) / len(plain), abs=1e-4)
    with pytest.raises(ValueError):
        likelihood_signals(model, tokenizer, PROMPTS, RESPONSES, ("fluency",))


def test_judge_adds_every_weighted_signal_and_records_it(tiny):
    model, tokenizer = tiny
    constitution = load_constitution(REPO / "constitution")
    templates = load_templates(REPO / "prompts", constitution)
    plain = Principle(id="kind", title="Kind", text="The response is kind.")
    weighted = Principle(id="kind", title="Kind", text="The response is kind.", lift=2.0, relevance=1.5, prior=0.5)
    judge = Judge(model, tokenizer, constitution, templates, model_id="tiny")
    without = judge.score(PROMPTS, RESPONSES, principle=plain)
    with_all = judge.score(PROMPTS, RESPONSES, principle=weighted)
    got = likelihood_signals(model, tokenizer, PROMPTS, RESPONSES,
                             system=templates.render("lift", principle=weighted))
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    for i, (a, b) in enumerate(zip(without, with_all)):
        assert not {"lift", "relevance", "prior"} & set(a.distribution)
        for name in ("lift", "relevance", "prior"):
            assert b.distribution[name] == pytest.approx(got[name][i], abs=1e-5)
        if not RESPONSES[i]:
            continue
        expected = logit(a.score) + 2.0 * got["lift"][i] + 1.5 * got["relevance"][i] + 0.5 * got["prior"][i]
        assert logit(b.score) == pytest.approx(expected, abs=1e-4)


def test_specificity_penalizes_only_replies_likelier_than_the_labeled_answers(tiny):
    model, tokenizer = tiny
    constitution = load_constitution(REPO / "constitution")
    templates = load_templates(REPO / "prompts", constitution)
    examples = constitution.get("helpful").examples
    plain = Principle(id="on_topic", title="On topic", text="The response answers the question.", examples=examples)
    specific = dataclasses.replace(plain, specificity=3.0)
    judge = Judge(model, tokenizer, constitution, templates, model_id="tiny")
    without, scored = judge.score(PROMPTS, RESPONSES, principle=plain), judge.score(PROMPTS, RESPONSES, principle=specific)
    labeled = [(e.prompt, a) for e in examples for a in (e.good, e.bad)]
    center = sum(likelihood_signals(model, tokenizer, [p for p, _ in labeled], [a for _, a in labeled],
                                    ("prior",))["prior"]) / len(labeled)
    prior = likelihood_signals(model, tokenizer, PROMPTS, RESPONSES, ("prior",))["prior"]
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    for i, (a, b) in enumerate(zip(without, scored)):
        assert b.distribution["specificity"] == pytest.approx(min(0.0, center - prior[i]), abs=1e-5)
        assert b.distribution["specificity"] <= 0.0  # a penalty or nothing, never a bonus for surprise
        if RESPONSES[i]:
            assert logit(b.score) == pytest.approx(logit(a.score) + 3.0 * b.distribution["specificity"], abs=1e-4)


def test_shipped_lift_template_names_the_principle():
    constitution = load_constitution(REPO / "constitution")
    templates = load_templates(REPO / "prompts", constitution)
    harmless = constitution.get("harmless")
    assert harmless.text in templates.render("lift", principle=harmless)


def _counting(monkeypatch):
    """Count the conversations the likelihood passes run, without changing what they return."""
    import loop.judging.likelihood as likelihood

    seen: list[tuple] = []
    real = likelihood.response_logprobs

    def counted(model, tokenizer, conversations, batch_size=8):
        seen.extend(conversations)
        return real(model, tokenizer, conversations, batch_size)

    monkeypatch.setattr(likelihood, "response_logprobs", counted)
    return seen


def test_a_memo_computes_each_pass_once_and_changes_no_value(tiny, monkeypatch):
    model, tokenizer = tiny
    fresh = likelihood_signals(model, tokenizer, PROMPTS, RESPONSES, system=SYSTEM)
    seen = _counting(monkeypatch)
    memo: dict = {}
    relevance = likelihood_signals(model, tokenizer, PROMPTS, RESPONSES, ("relevance",), memo=memo)
    assert len(seen) == 2 * len(PROMPTS)  # plain and empty user turn
    prior = likelihood_signals(model, tokenizer, PROMPTS, RESPONSES, ("prior",), memo=memo)
    assert len(seen) == 2 * len(PROMPTS)  # the plain pass was remembered
    lift = likelihood_signals(model, tokenizer, PROMPTS, RESPONSES, ("lift",), system=SYSTEM, memo=memo)
    assert len(seen) == 3 * len(PROMPTS)  # only the steered pass is new
    other = likelihood_signals(model, tokenizer, PROMPTS, RESPONSES, ("lift",), system="Be terse.", memo=memo)
    assert len(seen) == 4 * len(PROMPTS)  # another system message is another pass
    # Equal within float tolerance: batches of another make-up pad differently.
    assert relevance["relevance"] == pytest.approx(fresh["relevance"], abs=1e-5)
    assert prior["prior"] == pytest.approx(fresh["prior"], abs=1e-5)
    assert lift["lift"] == pytest.approx(fresh["lift"], abs=1e-5)
    assert other["lift"] != pytest.approx(fresh["lift"], abs=1e-5)
    # A repeated (prompt, response), as in a GRPO group, is computed once even without a memo.
    seen.clear()
    likelihood_signals(model, tokenizer, PROMPTS[:1] * 3, RESPONSES[:1] * 3, ("prior",))
    assert len(seen) == 1


def test_judge_shares_likelihood_passes_within_a_view_only(tiny, monkeypatch):
    model, tokenizer = tiny
    constitution = load_constitution(REPO / "constitution")
    templates = load_templates(REPO / "prompts", constitution)
    relevant = Principle(id="on_topic", title="On topic", text="The response answers the question.", relevance=2.0)
    kind = Principle(id="kind", title="Kind", text="The response is kind.", prior=1.0)
    judge = Judge(model, tokenizer, constitution, templates, model_id="tiny")
    alone = [c.score for c in judge.score(PROMPTS, RESPONSES, principle=kind)]
    seen = _counting(monkeypatch)
    judge.score(PROMPTS, RESPONSES, principle=relevant, view="judge")
    assert len(seen) == 2 * len(PROMPTS)
    shared = [c.score for c in judge.score(PROMPTS, RESPONSES, principle=kind, view="judge")]
    assert len(seen) == 2 * len(PROMPTS) and shared == pytest.approx(alone, abs=1e-5)
    judge.score(PROMPTS, RESPONSES, principle=kind, view="anchor")  # another model state: its own pass
    judge.score(PROMPTS, RESPONSES, principle=kind)  # no view: nothing remembered
    assert len(seen) == 4 * len(PROMPTS)


def test_signals_are_centered_on_the_principles_labeled_answers(tiny):
    from loop.constitution import Example

    model, tokenizer = tiny
    constitution = load_constitution(REPO / "constitution")
    templates = load_templates(REPO / "prompts", constitution)
    examples = (Example("Hi", "Hello! How can I help?", "What do you want."),
                Example("Thanks!", "You're welcome.", "Whatever."))
    plain = Principle(id="kind", title="Kind", text="The response is kind.", examples=examples)
    weighted = Principle(id="kind", title="Kind", text="The response is kind.", examples=examples, prior=0.5)
    judge = Judge(model, tokenizer, constitution, templates, model_id="tiny")
    without = judge.score(PROMPTS[:2], RESPONSES[:2], principle=plain)
    with_prior = judge.score(PROMPTS[:2], RESPONSES[:2], principle=weighted)
    labeled = likelihood_signals(model, tokenizer, ["Hi", "Hi", "Thanks!", "Thanks!"],
                                 [a for e in examples for a in (e.good, e.bad)], ("prior",))["prior"]
    center = sum(labeled) / 4
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    for a, b in zip(without, with_prior):
        assert b.distribution["prior_center"] == pytest.approx(center, abs=1e-5)
        assert logit(b.score) == pytest.approx(logit(a.score) + 0.5 * (b.distribution["prior"] - center), abs=1e-4)


def test_response_kl_of_a_model_against_itself_is_zero(tiny):
    from contextlib import nullcontext

    from loop.judging.likelihood import response_kl

    model, tokenizer = tiny
    conversations = [([{"role": "user", "content": "Is it Yes?"}], "Yes it is."), ([{"role": "user", "content": "No"}], "No.")]
    kl = response_kl(model, tokenizer, conversations, nullcontext)
    assert len(kl) == sum(len(_split(tokenizer, m, r)[1]) for m, r in conversations)
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in kl)


def test_response_kl_equals_the_definition_against_another_model_state(tiny):
    from loop.judging.likelihood import response_kl

    model, tokenizer = tiny
    conversation = ([{"role": "user", "content": "Is it Yes?"}], "Yes it is.")
    head, tail = _split(tokenizer, *conversation)
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        p = torch.log_softmax(model(input_ids=ids).logits.float(), -1)[0, len(head) - 1:len(head) - 1 + len(tail)]
    bias = torch.nn.Parameter(torch.linspace(-1, 1, p.shape[-1]))

    class Shifted:  # another state of the model: its output logits shifted by a fixed vector
        def __enter__(self):
            self.handle = model.lm_head.register_forward_hook(lambda m, i, o: o + bias)

        def __exit__(self, *exc):
            self.handle.remove()

    q = torch.log_softmax(p + bias, -1)
    expected = (p.exp() * (p - q)).sum(-1).tolist()
    assert response_kl(model, tokenizer, [conversation], Shifted) == pytest.approx(expected, abs=1e-5)
