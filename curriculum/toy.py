"""Tiny models, a local character tokenizer and generated graded datasets for examples, tests and benchmarks."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

__all__ = [
    "LEVELS",
    "TASKS",
    "make_bigram_model",
    "make_graded_dataset",
    "make_tiny_model",
    "make_tokenizer",
    "tokenize_for_causal_lm",
]

TASKS = ("add", "reverse")
LEVELS = (1, 2, 3, 4, 5)
_CHARS = string.digits + string.ascii_letters + " +-*=:,.?()[]"


def make_tokenizer():
    """A character-level `PreTrainedTokenizerFast` built locally (no download): one token per character.

    Example:

    ```python
    >>> from curriculum.toy import make_tokenizer
    >>> tok = make_tokenizer()
    >>> tok.decode(tok("12+7=")["input_ids"])
    '12+7='
    ```
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<s>", "</s>"]
    vocab = {tok: i for i, tok in enumerate(specials + list(_CHARS))}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


def make_tiny_model(
    vocab_size: int,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    max_positions: int = 256,
    seed: int = 0,
):
    """A small Llama causal LM built from a config (random weights, no download)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_positions,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def _example(task: str, level: int, rng: random.Random) -> dict[str, Any]:
    if task == "add":
        a, b = (rng.randrange(10 ** (level - 1) if level > 1 else 0, 10**level) for _ in range(2))
        return {"prompt": f"{a}+{b}=", "completion": str(a + b)}
    if task == "reverse":
        s = "".join(rng.choice(string.ascii_lowercase) for _ in range(2 * level))
        return {"prompt": f"rev {s}:", "completion": s[::-1]}
    raise ValueError(f"task should be one of {list(TASKS)}, but got task={task!r}")


def make_graded_dataset(
    num_rows: int,
    tasks: tuple[str, ...] = TASKS,
    levels: tuple[int, ...] = LEVELS,
    seed: int = 0,
):
    """A prompt/completion `datasets.Dataset` whose difficulty is known: columns `prompt`, `completion`, `task`,
    `level` (1 = easiest). Addition of `level`-digit numbers and reversal of `2 * level` letters, in equal shares.

    Example:

    ```python
    >>> from curriculum.toy import make_graded_dataset
    >>> ds = make_graded_dataset(8, seed=0)
    >>> sorted(ds.column_names)
    ['completion', 'level', 'prompt', 'task']
    ```
    """
    from datasets import Dataset

    rng = random.Random(seed)
    rows = []
    for i in range(num_rows):
        task = tasks[i % len(tasks)]
        level = levels[(i // len(tasks)) % len(levels)]
        rows.append({**_example(task, level, rng), "task": task, "level": level})
    rng.shuffle(rows)
    return Dataset.from_list(rows)


def tokenize_for_causal_lm(dataset, tokenizer, max_length: int = 64):
    """Tokenize prompt + completion + EOS with `labels` = -100 on the prompt (for a plain `Trainer`)."""

    def encode(row: dict[str, Any]) -> dict[str, list[int]]:
        prompt = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        completion = tokenizer(row["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (prompt + completion)[:max_length]
        labels = ([-100] * len(prompt) + completion)[:max_length]
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}

    return dataset.map(encode, remove_columns=["prompt", "completion"])


def make_bigram_model(tokenizer: Any, next_token: Callable[[str], str]) -> Any:
    """A tiny Llama whose greedy continuation depends only on the last token: after token `t` it emits
    `next_token(t)` (a token of `tokenizer`). Its one layer is zeroed, its embedding is the identity and its LM head
    holds one large weight per token, so a judge's answers are known in advance (tests, benchmark stand-ins).

    Example:

    ```python
    >>> tokenizer = make_tokenizer()
    >>> model = make_bigram_model(tokenizer, lambda t: "3" if t == "c" else "</s>")
    >>> out = model.generate(tokenizer("abc", return_tensors="pt").input_ids, max_new_tokens=3, do_sample=False)
    >>> tokenizer.decode(out[0, 3:], skip_special_tokens=True)
    '3'
    ```
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = len(tokenizer)
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=vocab, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1,
        num_key_value_heads=1, head_dim=8, max_position_embeddings=1024, pad_token_id=0, bos_token_id=2,
        eos_token_id=3, tie_word_embeddings=False,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.model.embed_tokens.weight.copy_(torch.eye(vocab))
        model.model.norm.weight.fill_(1.0)
        for layer in model.model.layers:
            layer.input_layernorm.weight.fill_(1.0)
            layer.post_attention_layernorm.weight.fill_(1.0)
        for t in range(vocab):
            nxt = tokenizer.convert_tokens_to_ids(next_token(tokenizer.convert_ids_to_tokens(t)))
            model.lm_head.weight[nxt, t] = 10.0
    return model.eval()
