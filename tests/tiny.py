"""A tiny chat model built from a config, for fast tests: no downloads, seconds to build.

The tokenizer is a byte-level BPE trained on a few sentences (so "Yes" and "No" are real tokens),
with a ChatML chat template like SmolLM2's. The model is a 2-layer Llama with random weights.
"""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "Yes", "No", "Yes.", "No.", " Yes", " No", "yes", "no",
    "The response follows the principle. Yes, it is helpful and honest.",
    "The response does not follow the principle. No, it is rude and wrong.",
    "Question: What is 2 + 2? Response: 2 + 2 = 4. Principle: The response is correct.",
    "Answer Yes or No. Does the response follow the principle?",
    "You are a helpful assistant. Answer clearly and briefly.",
    "How do I keep basil fresh? Stand the stems in water. I cannot know that.",
    "0 1 2 3 4 5 6 7 8 9 10 42 100 the a an is of to and in it you I",
]


def build_tiny(path: str | Path, seed: int = 0) -> Path:
    """Write a tiny model directory (config, weights, tokenizer) that `loop.model.load_model` accepts."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    specials = ["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS * 4, trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", eos_token="<|im_end|>",
                                        pad_token="<pad>", bos_token="<|im_start|>")
    tokenizer.chat_template = CHATML
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
