"""The one greedy generator, on the tiny model: batches change nothing, order is kept, mode restored."""

from __future__ import annotations

import pytest

from loop.generation import cut_at, encode_chats, generate_greedy, greedy_answers, left_padded, right_padded

CONVERSATIONS = [[{"role": "user", "content": text}] for text in
                 ("What is 2 + 2?", "Hi", "How do I keep basil fresh? Stand the stems in water.", "Is it?", "No")]


def test_batched_answers_equal_one_by_one_in_the_order_given(tiny):
    model, tokenizer = tiny
    batched = generate_greedy(model, tokenizer, CONVERSATIONS, max_new_tokens=6, batch_size=2)
    single = [generate_greedy(model, tokenizer, [c], max_new_tokens=6)[0] for c in CONVERSATIONS]
    assert batched == single and all(isinstance(text, str) for text in batched)


def test_on_batch_hears_of_every_conversation_once(tiny):
    model, tokenizer = tiny
    seen = []
    generate_greedy(model, tokenizer, CONVERSATIONS, max_new_tokens=2, batch_size=2, on_batch=seen.append)
    assert seen == [2, 2, 1]


@pytest.mark.parametrize("training", [True, False])
def test_the_models_mode_is_restored(tiny, training):
    model, tokenizer = tiny
    model.train(training)
    generate_greedy(model, tokenizer, CONVERSATIONS[:2], max_new_tokens=2)
    assert model.training is training


def test_encoded_chats_end_with_the_opened_assistant_turn(tiny):
    _, tokenizer = tiny
    [ids] = encode_chats(tokenizer, CONVERSATIONS[:1])
    assert tokenizer.decode(ids).endswith("<|im_start|>assistant\n")


def test_left_padding_ends_every_row_at_the_last_column_and_right_padding_starts_it_at_the_first():
    ids, mask = left_padded([[5, 6, 7], [8]], pad=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask = right_padded([[5, 6, 7], [8]], pad=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


@pytest.mark.parametrize("ids, expected", [
    ([5, 6, 7, 8], 4),  # the limit reached, no stop token: cut
    ([5, 6, 7, 2], None),  # the limit reached on the stop token: it ended itself
    ([5, 2], None),  # stopped early
    ([5, 6], None),  # short of the limit without a stop token (a backend that strips it): not cut
    ([], None),
])
def test_cut_at_is_the_token_count_of_an_answer_the_limit_stopped(ids, expected):
    assert cut_at(ids, max_new_tokens=4, stop_ids={2}) == expected


def test_an_answer_that_fills_the_limit_without_ending_is_cut(tiny):
    model, tokenizer = tiny
    [answer] = greedy_answers(model, tokenizer, CONVERSATIONS[:1], max_new_tokens=3)
    assert answer.cut is True


def test_an_answer_that_ends_before_the_limit_is_not_cut(tiny):
    """Make the model's first greedy token its end token: it then stops at once, well inside the limit."""
    model, tokenizer = tiny
    first = model.generate(**tokenizer(tokenizer.apply_chat_template(CONVERSATIONS[0], tokenize=False,
                                                                     add_generation_prompt=True),
                                       return_tensors="pt", add_special_tokens=False),
                           max_new_tokens=1, do_sample=False)[0, -1].item()
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [saved, first]
    try:
        [answer] = greedy_answers(model, tokenizer, CONVERSATIONS[:1], max_new_tokens=3)
    finally:
        model.generation_config.eos_token_id = saved
    assert answer.cut is False


def test_generate_greedy_gives_the_texts_of_greedy_answers(tiny):
    model, tokenizer = tiny
    texts = generate_greedy(model, tokenizer, CONVERSATIONS, max_new_tokens=4, batch_size=2)
    assert texts == [a.text for a in greedy_answers(model, tokenizer, CONVERSATIONS, max_new_tokens=4, batch_size=2)]
