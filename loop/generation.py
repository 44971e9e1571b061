"""Greedy generation, batched: the one generator for every answer loop writes without sampling.

The held-out evaluation answers with it (greedy, so two rounds are compared on equal terms) and the
judge writes its critiques with it. Conversations go in, texts come out, in the order given.

Batches are formed by length (less padding; the results are put back in order) and padded on the
left, so every row's new tokens start at the same column. The model is put in eval mode for the
call and left in the mode it was in. `greedy_answers` also says which answers the length limit cut
off (the probes report that share); `generate_greedy` gives the texts alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable


def cut_at(ids: list[int], max_new_tokens: int, stop_ids) -> int | None:
    """How many tokens an answer was cut at, when the length limit stopped it; None when it ended itself.

    TRL's rule (its completions/clipped_ratio): an answer that reached the limit and whose last token
    is not a stop token (end of sequence, or padding) was cut mid-way."""
    if len(ids) < max_new_tokens or not ids or ids[-1] in stop_ids:
        return None
    return len(ids)


def encode_chats(tokenizer, conversations: list[list[dict[str, str]]]) -> list[list[int]]:
    """Token ids of each conversation with the assistant's turn opened (the generation prompt)."""
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def left_padded(seqs: list[list[int]], pad: int):
    """(ids, attention mask) of the sequences as one batch, padded on the left: every row ends at the
    last column, where generation goes on."""
    return _padded(seqs, pad, left=True)


def right_padded(seqs: list[list[int]], pad: int):
    """(ids, attention mask) padded on the right: causal attention never looks at the pads that follow
    a row's tokens, so every position keeps its natural index."""
    return _padded(seqs, pad, left=False)


def _padded(seqs: list[list[int]], pad: int, left: bool):
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        cols = slice(width - len(s), width) if left else slice(0, len(s))
        ids[r, cols] = torch.tensor(s)
        mask[r, cols] = 1
    return ids, mask


@dataclass(frozen=True)
class Answer:
    text: str  # stripped, special tokens left out
    cut: bool  # it used all max_new_tokens without ending: cut off by the limit, not finished

    @property
    def finished(self) -> str:
        """The answer, or where the limit cut it, its text up to the last finished sentence: a cut
        answer kept as training data would teach the model to stop mid-sentence."""
        return whole_sentences(self.text) if self.cut else self.text


# A sentence ends at . ! or ? before a space or the end, not after a digit ("1." opens a list item).
_SENTENCE_END = re.compile(r"(?<=[^\d\s])[.!?](?=\s|$)")


def whole_sentences(text: str) -> str:
    """The text up to its last finished sentence ("" when none finished)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[:ends[-1]] if ends else ""


def generate_greedy(model, tokenizer, conversations: list[list[dict[str, str]]], max_new_tokens: int,
                    batch_size: int = 8, on_batch: Callable[[int], None] | None = None) -> list[str]:
    """The model's greedy answer to each conversation (at most max_new_tokens each), stripped.

    `on_batch(n)` is called after each batch with the number of conversations it answered."""
    return [a.text for a in greedy_answers(model, tokenizer, conversations, max_new_tokens, batch_size, on_batch)]


def greedy_answers(model, tokenizer, conversations: list[list[dict[str, str]]], max_new_tokens: int,
                   batch_size: int = 8, on_batch: Callable[[int], None] | None = None) -> list[Answer]:
    """generate_greedy's answers with, for each, whether the length limit cut it off."""
    import torch

    seqs = encode_chats(tokenizer, conversations)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    pad = tokenizer.pad_token_id
    stops = stop_ids(model, tokenizer)
    answers: list[Answer | None] = [None] * len(seqs)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            ids, mask = left_padded([seqs[i] for i in batch], pad)
            with torch.no_grad():
                # temperature/top_p/top_k unset: a model's sampling defaults do not apply to greedy decoding.
                out = model.generate(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                                     max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad,
                                     temperature=None, top_p=None, top_k=None)
            for r, i in enumerate(batch):
                new = out[r, ids.shape[1]:]
                # A finished row ends with an end token (then pads); a cut one fills the limit without one.
                cut = cut_at([int(t) for t in new], max_new_tokens, stops) is not None
                answers[i] = Answer(tokenizer.decode(new, skip_special_tokens=True).strip(), cut)
            if on_batch:
                on_batch(len(batch))
    finally:
        model.train(was_training)
    return answers  # type: ignore[return-value]  # every slot is filled


def eos_ids(model, tokenizer) -> list[int]:
    """The tokens that end an answer, as GRPOTrainer takes them: every eos id the model's generation
    config declares (one id or several), and the tokenizer's."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    return eos if tokenizer.eos_token_id in eos else [tokenizer.eos_token_id, *eos]


def stop_ids(model, tokenizer) -> set[int]:
    """The eos ids and padding: an answer that reaches its length limit without one of these was cut."""
    return {int(i) for i in (*eos_ids(model, tokenizer), tokenizer.pad_token_id) if i is not None}

