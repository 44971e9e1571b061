"""The judge's forward passes: P(Yes) and P(No) as the next token after each judge conversation.

Every conversation about one principle shares a long prefix (the few-shot turns, the principle, the
rubric). Its key/value cache is computed once and reused for every batch; only each item's own
tokens are run. The prefix is the longest common prefix of the *token ids* of the full texts, so
cached and uncached runs see exactly the same tokens (no boundary effects at a text seam).
"""

from __future__ import annotations

import copy

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


def yes_no(model, tokenizer, conversations, yes_ids: list[int], no_ids: list[int], *, batch_size: int,
           prefix_cache: bool = True) -> list[tuple[float, float]]:
    """(P(Yes), P(No)) of the next token after each conversation's assistant turn opens."""
    import torch

    seqs = encode_chats(tokenizer, conversations)
    # Sort by length so batches hold similar lengths (less padding); results are put back in order.
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    k = _common_prefix(seqs) if prefix_cache and len(seqs) > 1 else 0
    k = min(k, min(len(s) for s in seqs) - 1)  # every item keeps at least one token of its own
    prefix_kv = None
    with torch.no_grad():
        if k >= MIN_PREFIX_TOKENS:
            prefix = torch.tensor([seqs[0][:k]], device=model.device)
            prefix_kv = model(input_ids=prefix, use_cache=True).past_key_values
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
    ids, mask = right_padded(seqs, pad)
    n, width = ids.shape
    cache = copy.deepcopy(prefix_kv)
    cache.batch_repeat_interleave(n)
    full_mask = torch.cat([torch.ones((n, k), dtype=torch.long), mask], dim=1)
    positions = (k + torch.arange(width)).unsqueeze(0).expand(n, -1)
    # Logits from the earliest last token on (batches are sorted by length, so that is a few columns).
    last = torch.tensor([len(s) - 1 for s in seqs], device=device)
    keep = width - int(last.min())
    out = model(input_ids=ids.to(device), attention_mask=full_mask.to(device),
                position_ids=positions.to(device), past_key_values=cache, use_cache=True,
                logits_to_keep=keep)
    return out.logits[torch.arange(n, device=device), last - (width - keep), :]
