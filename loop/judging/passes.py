"""The judge's forward passes: P(Yes) and P(No) as the next token after each judge conversation.

Every conversation about one principle shares a long prefix (the few-shot turns, the principle, the
rubric). Its key/value cache is computed once and reused for every batch; only each item's own
tokens are run. The prefix is the longest common prefix of the *token ids* of the full texts, so
cached and uncached runs see exactly the same tokens (no boundary effects at a text seam).

Calls about the same principle share most of that prefix too (the few-shot turns are ~750 tokens
with the shipped constitution; a training step's question adds a dozen). For a model state that
does not change (a round's frozen judge, the anchor), a `KeptPrefix` carries it from call to call:
each call computes only what it does not share with the last one.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

from loop.generation import encode_chats, left_padded, right_padded

YES_WORDS = ("Yes", " Yes", "yes", " yes", "YES", " YES")
NO_WORDS = ("No", " No", "no", " no", "NO", " NO")
# A shared prefix shorter than this is not worth a cache (the copy costs more than it saves).
MIN_PREFIX_TOKENS = 16


def word_token_ids(tokenizer, words) -> list[int]:
    """Token ids of the words that are a single token; multi-token spellings are left out, since
    their first token ("Y") also starts unrelated words."""
    ids = []
    for word in words:
        tokens = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(tokens) == 1 and tokens[0] not in ids:
            ids.append(tokens[0])
    return ids


def verdict_token_ids(tokenizer) -> tuple[list[int], list[int]]:
    """(Yes ids, No ids): each side sums the single-token spellings of its word."""
    yes_ids = word_token_ids(tokenizer, YES_WORDS)
    no_ids = [i for i in word_token_ids(tokenizer, NO_WORDS) if i not in yes_ids]
    if not yes_ids or not no_ids:
        raise ValueError("this tokenizer has no single-token Yes/No; the judge cannot read a verdict")
    return yes_ids, no_ids


def _common_prefix(seqs: list[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    first = seqs[0]
    for i in range(n):
        if any(s[i] != first[i] for s in seqs):
            return i
    return n


@dataclass
class KeptPrefix:
    """The key/value cache of a prefix kept between calls (one principle, one frozen model state).

    Only pass one where the model's weights stay the same for as long as it is kept."""

    ids: list[int] = field(default_factory=list)
    cache: Any = None

    def cache_of(self, model, ids: list[int]):
        """The key/value cache of exactly `ids`: the kept prefix as far as it matches, the rest computed.
        What this call shares with the last one is kept for the next."""
        shared = _common_prefix([self.ids, ids]) if self.cache is not None else 0
        if shared < MIN_PREFIX_TOKENS:  # nothing worth keeping in common: start over from this call
            self.ids, self.cache = list(ids), _extend(model, ids, None)
            return self.cache
        if shared < len(self.ids):  # the last call's prefix ran past what calls share (its own question)
            self.cache.crop(shared - len(self.ids))
            self.ids = self.ids[:shared]
        return self.cache if shared == len(ids) else _extend(model, ids[shared:], copy.deepcopy(self.cache))


def _extend(model, ids: list[int], past):
    """The key/value cache after running `ids` (after `past`, a cache this call may change)."""
    import torch

    return model(input_ids=torch.tensor([ids], device=model.device), past_key_values=past,
                 use_cache=True).past_key_values


def yes_no(model, tokenizer, conversations, yes_ids: list[int], no_ids: list[int], *, batch_size: int,
           prefix_cache: bool = True, kept: KeptPrefix | None = None) -> list[tuple[float, float]]:
    """(P(Yes), P(No)) of the next token after each conversation's assistant turn opens.

    `kept`: the prefix kept from earlier calls about the same principle in the same frozen view."""
    import torch

    seqs = encode_chats(tokenizer, conversations)
    # Sort by length so batches hold similar lengths (less padding); results are put back in order.
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    # One conversation still shares its few-shot turns with the kept prefix: all of it but its last token.
    k = (len(seqs[0]) if len(seqs) == 1 else _common_prefix(seqs)) if prefix_cache and (kept or len(seqs) > 1) else 0
    k = min(k, min(len(s) for s in seqs) - 1)  # every item keeps at least one token of its own
    prefix_kv = None
    with torch.no_grad():
        if k >= MIN_PREFIX_TOKENS:
            prefix_kv = (kept or KeptPrefix()).cache_of(model, seqs[0][:k])
        else:
            k = 0
        result: list[tuple[float, float]] = [(0.0, 0.0)] * len(seqs)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            logits = _last_logits(model, tokenizer.pad_token_id, [seqs[i][k:] for i in batch], prefix_kv, k)
            probs = torch.softmax(logits.float(), dim=-1)
            yes = probs[:, yes_ids].sum(-1).tolist()
            no = probs[:, no_ids].sum(-1).tolist()
            for j, i in enumerate(batch):
                result[i] = (yes[j], no[j])
    return result


def _last_logits(model, pad: int, seqs: list[list[int]], prefix_kv, k: int):
    """Logits at each sequence's last token. Without a prefix: left padding. With a cached prefix
    the suffixes are padded on the right (pads come after the real tokens, so causal attention
    never sees them) and the logits are gathered at each row's last real token."""
    import torch

    device = model.device
    if prefix_kv is None:
        ids, mask = left_padded(seqs, pad)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        # Only the last position's logits: the full [n, width, vocab] tensor would be ~50k floats a token.
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                    position_ids=positions.to(device), use_cache=False, logits_to_keep=1)
        return out.logits[:, -1, :]
    width = max(len(s) for s in seqs)
    # Logits from the earliest last token on (batches are sorted by length, so that is a few columns).
    last = torch.tensor([len(s) - 1 for s in seqs], device=device)
    keep = width - int(last.min())
    logits = prefixed_logits(model, pad, seqs, prefix_kv, k, keep)
    return logits[torch.arange(len(seqs), device=device), last - (width - keep), :]


def prefixed_logits(model, pad: int, suffixes: list[list[int]], prefix_kv, k: int, keep: int):
    """Logits of the last `keep` columns of the suffixes, run as one batch after a cached prefix of k
    tokens (read, never changed). The suffixes are padded on the right: pads come after the real
    tokens, so causal attention never sees them."""
    import torch
    from transformers.cache_utils import Cache

    device = model.device
    ids, mask = right_padded(suffixes, pad)
    n, width = ids.shape
    shared = _shared_prefix_layer()
    cache = Cache(layers=[shared(layer.keys, layer.values) for layer in prefix_kv.layers])
    full_mask = torch.cat([torch.ones((n, k), dtype=torch.long), mask], dim=1)
    positions = (k + torch.arange(width)).unsqueeze(0).expand(n, -1)
    return model(input_ids=ids.to(device), attention_mask=full_mask.to(device), position_ids=positions.to(device),
                 past_key_values=cache, use_cache=True, logits_to_keep=keep).logits


@functools.cache
def _shared_prefix_layer():
    """The class below, made on first use (transformers is imported only when a model runs)."""
    from transformers.cache_utils import DynamicLayer

    class SharedPrefixLayer(DynamicLayer):
        """One layer of a cached prefix that a whole batch reads: each forward pass attends to the
        prefix (one copy, broadcast over the batch) followed by its own tokens, and the prefix is
        neither changed nor stored again. Why: a batch of 16 conversations repeating a 750-token
        prefix held ~550 MB of keys and values at once; this holds one layer's at a time."""

        def __init__(self, keys, values):
            super().__init__()
            self.keys, self.values, self.device, self.is_initialized = keys, values, keys.device, True

        def update(self, key_states, value_states, *args, **kwargs):
            import torch

            n = key_states.shape[0]
            return (torch.cat([self.keys.expand(n, -1, -1, -1), key_states], dim=-2),
                    torch.cat([self.values.expand(n, -1, -1, -1), value_states], dim=-2))

    return SharedPrefixLayer
