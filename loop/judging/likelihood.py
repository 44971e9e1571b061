"""The judge's likelihood signals: principle lift, relevance and prior, read from the model's own
token probabilities of a response in different contexts.

The judge's Yes/No question asks the model what it thinks of an answer. A 135M model answers that
mostly by general impression: asked "Is this answer ethical?", it says Yes a little more to a fluent,
compliant answer to a harmful request than to a refusal. Its *generation* knows more than its verdict:
told "Always follow this principle: the response refuses to help with harm…", it becomes likelier to
write a refusal. The lift measures exactly that, the contrast at the heart of Constitutional AI's
principle-conditioned generation (RLCD contrasts two such prompts):

    lift = mean over the response's tokens (and its end-of-turn) of
           log P(token | lift.jinja as system message, prompt) - log P(token | prompt)

It is a per-token mean, so it does not grow with length. It is added to the judge's log-odds with the
principle's `lift` weight (0, the default, leaves the principle to the question alone); which principles
it helps was measured, and each principle file says so.

Two more signals come from the same passes. The prior is the plain half alone: the mean
log-probability per token of the response as the model's own reply to the prompt. An instruction-tuned model finds rude replies unlikely, so for politeness it
is a strong signal (the `prior` weight). It also rewards whatever is bland and predictable, so it is
a small weight on one principle, never the whole reward; the Yes/No verdict still carries it. The
relevance is the contrast with an empty user turn instead of the principle: how much the question
itself makes the response likely (pointwise mutual information). Answers that would fit any question
("it depends on many factors") gain nothing from it; answers to this question do. But an answer
that says the question back gains too; the judge's fourth signal, specificity, is read from the prior
(loop/judging/judge.py) and penalizes such predictable answers.
"""

from __future__ import annotations

from loop.generation import right_padded
from loop.judging.passes import MIN_PREFIX_TOKENS, prefixed_logits
from loop.stats import mean

# The signals read from passes here; the constitution's SIGNALS add specificity, derived from the prior.
READ = ("lift", "relevance", "prior")


def _split(tokenizer, messages: list[dict[str, str]], response: str) -> tuple[list[int], list[int]]:
    """Token ids of the conversation up to the assistant's turn, and of the turn itself (the response and
    its end-of-turn marker), tokenized separately so the boundary is exact whatever the tokenizer."""
    head = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": response}], tokenize=False)
    tail = full[len(head):] if full.startswith(head) else response + (tokenizer.eos_token or "")
    return (tokenizer(head, add_special_tokens=False)["input_ids"],
            tokenizer(tail.rstrip("\n"), add_special_tokens=False)["input_ids"])


def steered_chat(tokenizer, system: str, prompt: str) -> list[dict[str, str]]:
    """The principle as a system message; as the start of the user's turn for a chat template that has
    no system role (some raise on one)."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    try:
        tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return messages
    except Exception:
        return [{"role": "user", "content": f"{system}\n\n{prompt}"}]


def _pairs(tokenizer, conversations: list[tuple[list[dict[str, str]], str]]) -> list[tuple[list[int], list[int]]]:
    return [_split(tokenizer, messages, response) for messages, response in conversations]


def _pad(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def _response_rows(model, pad: int, pairs: list[tuple[list[int], list[int]]], batch_size: int):
    """For each batch of (head, tail) token ids: the items' indices, the batch's logits (float, from the
    first position that predicts a response token on: the heads are long), and per item the rows of
    those logits that predict its response tokens with the tokens themselves. Right padding (causal
    attention never looks at the pads that follow a row's tokens)."""
    import torch

    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        ids, mask = right_padded([pairs[i][0] + pairs[i][1] for i in batch], pad)
        first = min(len(pairs[i][0]) for i in batch) - 1

        def logits():
            with torch.no_grad():
                return model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device), use_cache=False,
                             logits_to_keep=ids.shape[1] - first).logits.float()

        rows = [(torch.arange(len(pairs[i][0]) - 1, len(pairs[i][0]) - 1 + len(pairs[i][1])) - first,
                 torch.tensor(pairs[i][1])) for i in batch]
        yield batch, logits, rows


def _token_logprobs(logits, rows) -> list[list[float]]:
    """log P of each item's tokens: batch row r, read at `rows[r]` = (logit positions, target tokens)."""
    import torch

    logp = torch.log_softmax(logits.float(), dim=-1)
    return [logp[r, positions.to(logp.device), targets.to(logp.device)].tolist()
            for r, (positions, targets) in enumerate(rows)]


def response_logprobs(model, tokenizer, conversations: list[tuple[list[dict[str, str]], str]],
                      batch_size: int = 8) -> list[list[float]]:
    """Per-token log-probabilities of each response as the assistant's reply to its conversation.

    Responses to the same conversation (a training step's group: one prompt, several answers) share
    its tokens: those are run once, and the responses after them from the key/value cache. The rest
    run whole, right-padded."""
    pairs, pad = _pairs(tokenizer, conversations), _pad(tokenizer)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (head, _) in enumerate(pairs):
        groups.setdefault(tuple(head), []).append(i)
    out: list[list[float]] = [[] for _ in pairs]
    alone = []
    for head, members in groups.items():
        if len(members) > 1 and len(head) > MIN_PREFIX_TOKENS:
            for i, lp in zip(members, _after_shared_head(model, pad, list(head), [pairs[i][1] for i in members],
                                                        batch_size)):
                out[i] = lp
        else:
            alone += members
    for batch, logits, rows in _response_rows(model, pad, [pairs[i] for i in alone], batch_size):
        for j, lp in zip(batch, _token_logprobs(logits(), rows)):
            out[alone[j]] = lp
    return out


def _after_shared_head(model, pad: int, head: list[int], tails: list[list[int]], batch_size: int) -> list[list[float]]:
    """Tails that follow the same head: the head but its last token is run once; each tail is run after
    it as [last head token] + tail, whose logits at column j predict tail[j]."""
    import torch

    out: list[list[float]] = [[] for _ in tails]
    order = sorted(range(len(tails)), key=lambda r: len(tails[r]))
    with torch.no_grad():
        prefix_kv = model(input_ids=torch.tensor([head[:-1]], device=model.device), use_cache=True).past_key_values
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            suffixes = [[head[-1]] + tails[r] for r in batch]
            logits = prefixed_logits(model, pad, suffixes, prefix_kv, len(head) - 1, max(len(x) for x in suffixes))
            rows = [(torch.arange(len(tails[r])), torch.tensor(tails[r])) for r in batch]
            for r, lp in zip(batch, _token_logprobs(logits, rows)):
                out[r] = lp
    return out


def response_kl(model, tokenizer, conversations: list[tuple[list[dict[str, str]], str]], other_view,
                batch_size: int = 8) -> list[float]:
    """Per-token KL(model as it is || model inside `other_view`) at every position of each response,
    exact over the vocabulary (not estimated from the sampled token): how far one state of the shared
    model has moved from another on these answers."""
    import torch

    out: list[float] = []
    for batch, logits, rows in _response_rows(model, _pad(tokenizer), _pairs(tokenizer, conversations), batch_size):
        logp = torch.log_softmax(logits(), dim=-1)
        with other_view():
            logq = torch.log_softmax(logits(), dim=-1)
        kl = (logp.exp() * (logp - logq)).sum(-1)
        for r, (positions, _) in enumerate(rows):
            out.extend(kl[r, positions.to(kl.device)].clamp(min=0.0).tolist())
    return out


def likelihood_signals(model, tokenizer, prompts: list[str], responses: list[str], wanted=READ, *,
                       system: str = "", batch_size: int = 8, memo: dict | None = None) -> dict[str, list[float]]:
    """The wanted signals of each response, each a per-token mean over the response's tokens:

    prior      log P(response | prompt), the response as the model's own reply
    lift       log P(response | system, prompt) - log P(response | prompt); `system` is lift.jinja
    relevance  log P(response | prompt) - log P(response | an empty user turn): how much the question
               itself makes this response likely (pointwise mutual information). A vague reply that
               would fit any question gains nothing; one that answers this question gains.

    `memo` (a dict the caller keeps) holds each (context, prompt, response)'s mean log-probability, so
    principles that read the same pass over the same answers compute it once. Only pass one for a
    model that does not change while the memo lives.
    """
    unknown = set(wanted) - set(READ)
    if unknown:
        raise ValueError(f"unknown likelihood signals {sorted(unknown)}")
    contexts = {"plain": lambda p: [{"role": "user", "content": p}]}
    if "lift" in wanted:
        contexts["steered"] = lambda p: steered_chat(tokenizer, system, p)
    if "relevance" in wanted:
        contexts["unprompted"] = lambda p: [{"role": "user", "content": ""}]
    memo = {} if memo is None else memo
    # The memo key names what the model saw: the context, its system text where it has one, the
    # prompt (the empty user turn does not depend on it) and the response.
    def key(name, prompt, response):
        return (name, system if name == "steered" else "", "" if name == "unprompted" else prompt, response)
    todo = list(dict.fromkeys(key(name, p, r) for name in contexts for p, r in zip(prompts, responses)
                              if key(name, p, r) not in memo))
    flat = response_logprobs(model, tokenizer, [(contexts[k[0]](k[2]), k[3]) for k in todo], batch_size)
    # Every turn has at least its end-of-turn token, so a mean is never of nothing (0 if it were).
    memo.update((k, mean(lp) or 0.0) for k, lp in zip(todo, flat))
    # The response's tokens are the same in every context (tokenized apart from the head), so a
    # per-token mean of differences is a difference of means.
    means = {name: [memo[key(name, p, r)] for p, r in zip(prompts, responses)] for name in contexts}
    out = {"prior": means["plain"]}
    if "lift" in wanted:
        out["lift"] = [a - b for a, b in zip(means["steered"], means["plain"])]
    if "relevance" in wanted:
        out["relevance"] = [a - b for a, b in zip(means["plain"], means["unprompted"])]
    return {name: out[name] for name in wanted}
