r"""
Intrinsic hardness and quality from a local instruct model (the judge): greedy answers to prompt templates, parsed
strictly.

Three scores, each the integer the judge answers to one template in `curriculum/scoring/prompts/`:

- `"quality"`: the quality of the instruction/response pair, 1 (useless) to 10 (excellent).
- `"bloom"`: the cognitive level the instruction demands on Bloom's taxonomy, 1 (remember) to 6 (create).
- `"disciplines"`: how many disciplines the instruction needs (interdisciplinary complexity), 1 to 10.

A template is plain text with the placeholders `{instruction}` and `{response}` (one at least); every other
character, braces included, is kept as it is. The rendered text is the user message of the tokenizer's chat template
when the tokenizer has one (`tokenizer.chat_template`, with the generation prompt), else the prompt itself (with the
tokenizer's own special tokens, such as BOS).

Parsing is strict. The answer is the decoded new tokens (special tokens skipped), stripped of surrounding
whitespace. It parses when it starts with a whole number (ASCII digits) that is followed by the end of the answer,
whitespace, or one of `. ) ] , ; :` not followed by a digit, and that number lies in the score's range. `"3"`,
`"3."` and `"3\nThe instruction..."` give 3; `"Level 3"`, `"3.5"`, `"3rd"`, `"three"`, `"7"` (for bloom) and `""`
do not parse: the row's score is NaN (missing), counted, never guessed.

The answers are cached in a JSON-lines file, one record per answer keyed by the scorer, the template's digest, the
model's identity, `max_new_tokens` and the full rendered prompt; an interrupted pass that is run again only asks the
judge about the rows whose answers are not in the cache.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["JUDGE_SCORES", "judge_scores", "load_templates", "parse_answer"]

logger = logging.getLogger(__name__)

JUDGE_SCORES = ("quality", "bloom", "disciplines")
# The range of the integer answer of each score (inclusive).
RANGES = {"quality": (1, 10), "bloom": (1, 6), "disciplines": (1, 10)}
PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
_PLACEHOLDER = re.compile(r"\{(instruction|response)\}")
_ANSWER = re.compile(r"([0-9]+)(?:$|\s|[.)\],;:](?![0-9]))")


def template_path(name: str) -> Path:
    """The file of the default template of a judge score (`curriculum/scoring/prompts/<name>.txt`)."""
    if name not in JUDGE_SCORES:
        raise ValueError(f"the judge scores are {list(JUDGE_SCORES)}, but got {name!r}")
    return PROMPTS_DIR / f"{name}.txt"


def load_templates(
    names: Iterable[str] = JUDGE_SCORES, overrides: Mapping[str, str | os.PathLike] | None = None
) -> dict[str, str]:
    """
    The prompt template of each judge score: the packaged file, or the file that `overrides` names for it.

    Example:

    ```python
    >>> from curriculum.scoring.judge import load_templates
    >>> "{instruction}" in load_templates(["bloom"])["bloom"]
    True
    ```
    """
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if k not in JUDGE_SCORES]
    if unknown:
        raise ValueError(f"templates can be given for {list(JUDGE_SCORES)}, but got templates for {unknown}")
    out = {}
    for name in names:
        path = Path(overrides[name]) if name in overrides else template_path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ValueError(f"cannot read the {name} template {str(path)!r}: {err}") from None
        if _PLACEHOLDER.search(text) is None:
            raise ValueError(
                f"the {name} template {str(path)!r} has no placeholder; a template holds {{instruction}} (the "
                "prompt), {response} (the completion) or both"
            )
        out[name] = text
    return out


def render(template: str, instruction: str, response: str) -> str:
    """The template with its placeholders replaced (one pass: text inside the row is never substituted again)."""
    values = {"instruction": instruction, "response": response}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template).rstrip("\n")


def parse_answer(name: str, text: str) -> float:
    """
    The score in a judge's answer, or NaN when the answer does not parse (see the module docstring).

    Example:

    ```python
    >>> from curriculum.scoring.judge import parse_answer
    >>> parse_answer("bloom", " 4.\\n"), parse_answer("bloom", "Level 4"), parse_answer("bloom", "7")
    (4.0, nan, nan)
    ```
    """
    low, high = RANGES[name]
    match = _ANSWER.match(text.strip())
    if match is None:
        return float("nan")
    value = int(match.group(1))
    return float(value) if low <= value <= high else float("nan")


def prompt_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of a rendered template: the user message of the chat template if the tokenizer has one, else plain."""
    if getattr(tokenizer, "chat_template", None):
        chat = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
        return list(tokenizer(chat, add_special_tokens=False)["input_ids"])
    return list(tokenizer(text)["input_ids"])


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AnswerCache:
    """
    The judge's raw answers in a JSON-lines file: `{"key", "scorer", "answer"}` per line, appended and flushed per
    batch. Under several processes each process appends to `<path>.part<rank>`; `consolidate` (main process, once
    all are done) folds the part files into `path`. Reading takes `path` and every part file, and skips a line cut
    short by an interruption.
    """

    def __init__(self, path: str | os.PathLike | None, rank: int = 0, num_processes: int = 1) -> None:
        self.path = None if path is None else os.fspath(path)
        self.answers: dict[str, str] = {}
        self.write_path = None
        if self.path is None:
            return
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise ValueError(f"the judge cache {self.path!r} cannot be written: {parent!r} is not a directory")
        if os.path.isdir(self.path):
            raise ValueError(f"the judge cache should be a file, but {self.path!r} is a directory")
        for file in [self.path, *self._parts()]:
            self.answers.update(self._read(file))
        self.write_path = self.path if num_processes == 1 else f"{self.path}.part{rank}"

    def _parts(self) -> list[str]:
        return sorted(glob.glob(glob.escape(self.path) + ".part*"))

    @staticmethod
    def _read(file: str) -> dict[str, str]:
        out: dict[str, str] = {}
        if not os.path.isfile(file):
            return out
        with open(file, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                    out[str(record["key"])] = str(record["answer"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interruption, or not a record
        return out

    def append(self, records: Sequence[dict[str, str]]) -> None:
        for record in records:
            self.answers[record["key"]] = record["answer"]
        if self.write_path is None or not records:
            return
        with open(self.write_path, "a+", encoding="utf-8") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:
                f.seek(f.tell() - 1)
                if f.read(1) != "\n":  # an interrupted write left half a line: start a fresh one
                    f.write("\n")
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            f.flush()
            os.fsync(f.fileno())

    def consolidate(self) -> None:
        """Fold the part files into the cache file (atomically) and remove them."""
        if self.path is None:
            return
        parts = self._parts()
        if not parts:
            return
        answers = self._read(self.path)
        for part in parts:
            answers.update(self._read(part))
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(json.dumps({"key": k, "answer": a}, ensure_ascii=False) + "\n" for k, a in answers.items()))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        for part in parts:
            os.remove(part)


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """The end tokens of the judge: its generation config's (an instruct model may have several), else the
    tokenizer's."""
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None) if config is not None else None
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        return []
    return [int(e) for e in eos] if isinstance(eos, (list, tuple)) else [int(eos)]


@torch.inference_mode()
def _generate(
    model: Any, tokenizer: Any, batch: list[list[int]], max_new_tokens: int, pad_id: int, eos: list[int]
) -> list[str]:
    """Greedy answers of a batch of left-padded prompts: the new tokens up to the first end token, decoded without
    special tokens."""
    device = next(model.parameters()).device
    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    for j, ids in enumerate(batch):
        input_ids[j, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention_mask[j, width - len(ids) :] = 1
    out = model.generate(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        do_sample=False,
        max_new_tokens=max_new_tokens,
        pad_token_id=pad_id,
        eos_token_id=eos or None,
        num_beams=1,
        temperature=None,
        top_p=None,
        top_k=None,
    )
    answers = []
    for row in out[:, width:].tolist():
        end = next((i for i, t in enumerate(row) if t in eos), len(row))
        answers.append(tokenizer.decode(row[:end], skip_special_tokens=True))
    return answers


def judge_scores(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    completions: Sequence[str],
    scores: Iterable[str] = JUDGE_SCORES,
    *,
    templates: Mapping[str, str | os.PathLike] | None = None,
    batch_size: int = 8,
    max_new_tokens: int = 4,
    cache: str | os.PathLike | None = None,
    model_id: str | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """
    The judge's scores of prompt/completion rows: for each score, the integer the model answers, by greedy decoding,
    to the score's template filled with the row; NaN where the answer does not parse (a warning gives the count).

    Under `accelerate launch` or `torchrun`, each process asks about a contiguous share of the rows and the shares
    are gathered, so every process returns the same arrays, in row order, as a one-process run. The progress bar
    (main process only) counts answers, cached ones included.

    Args:
        model (`PreTrainedModel`), tokenizer (`PreTrainedTokenizerBase`):
            A local causal (instruct) LM and its tokenizer; inputs go to the device of its first parameter.
        prompts (`Sequence[str]`), completions (`Sequence[str]`):
            The rows (instruction and response).
        scores (`Iterable[str]`, *optional*):
            Any of `"quality"`, `"bloom"`, `"disciplines"`.
        templates (`Mapping[str, str]`, *optional*):
            Template files replacing the packaged ones, by score name.
        batch_size (`int`, *optional*, defaults to `8`):
            Prompts per `generate` call (longest first, left-padded).
        max_new_tokens (`int`, *optional*, defaults to `4`):
            New tokens per answer.
        cache (`str`, *optional*):
            JSON-lines file of answers, read first and appended to per batch; `None`: no cache.
        model_id (`str`, *optional*):
            The model's identity in the cache keys (its directory); defaults to `model.name_or_path`.
        progress (`bool`, *optional*, defaults to `True`):
            Show a tqdm progress bar.

    Returns:
        `dict[str, np.ndarray]`: one float64 array per requested score.

    Example:

    ```python
    >>> from curriculum.scoring.judge import judge_scores
    >>> from curriculum.toy import make_tiny_model, make_tokenizer
    >>> tok = make_tokenizer()
    >>> out = judge_scores(make_tiny_model(len(tok)), tok, ["Why?"], ["Because."], ["bloom"], progress=False)
    >>> out["bloom"].shape  # a random model's answer seldom parses: NaN
    (1,)
    ```
    """
    from .lm import _split_gather
    from .processes import process_state

    wanted = list(dict.fromkeys(scores))
    unknown = [s for s in wanted if s not in JUDGE_SCORES]
    if unknown:
        raise ValueError(f"the judge scores are {list(JUDGE_SCORES)}, but got {unknown}")
    for value, what in ((batch_size, "batch_size"), (max_new_tokens, "max_new_tokens")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} should be a positive integer, but got {what}={value!r}")
    if len(prompts) != len(completions):
        raise ValueError(
            f"prompts and completions should have the same length, but got {len(prompts)} and {len(completions)}"
        )
    texts = load_templates(wanted, templates)
    if model_id is None:
        model_id = str(getattr(model, "name_or_path", "") or type(model).__name__)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    eos = _eos_ids(model, tokenizer)
    state = process_state()
    store = AnswerCache(cache, state.process_index, state.num_processes)
    digests = {name: _digest(texts[name]) for name in wanted}

    def work(rows: list[int], advance: Callable[[int], Any]) -> list[tuple[str, ...]]:
        answers: dict[tuple[int, str], str] = {}
        pending: list[tuple[int, str, str, list[int]]] = []
        for name in wanted:
            for r in rows:
                text = render(texts[name], prompts[r], completions[r])
                key = _digest(json.dumps([name, digests[name], model_id, max_new_tokens, text]))
                if key in store.answers:
                    answers[(r, name)] = store.answers[key]
                    advance(1)
                else:
                    pending.append((r, name, key, prompt_ids(tokenizer, text)))
        pending.sort(key=lambda p: -len(p[3]))  # longest first: little padding, and out-of-memory shows at once
        for b in range(0, len(pending), batch_size):
            chunk = pending[b : b + batch_size]
            replies = _generate(model, tokenizer, [p[3] for p in chunk], max_new_tokens, pad_id, eos)
            store.append([{"key": key, "scorer": name, "answer": a} for (_, name, key, _), a in zip(chunk, replies)])
            for (r, name, _, _), a in zip(chunk, replies):
                answers[(r, name)] = a
            advance(len(chunk))
        return [tuple(answers[(r, name)] for name in wanted) for r in rows]

    was_training = model.training
    model.eval()
    try:
        raw = _split_gather(len(prompts), work, progress, len(wanted))
    finally:
        model.train(was_training)
    if state.num_processes > 1:
        state.wait_for_everyone()  # every part file is complete
    if state.is_main_process:
        store.consolidate()
    if state.num_processes > 1:
        state.wait_for_everyone()
    out = {}
    for j, name in enumerate(wanted):
        out[name] = np.array([parse_answer(name, row[j]) for row in raw], dtype=np.float64)
        missing = int(np.isnan(out[name]).sum())
        if missing and state.is_main_process:
            examples = sorted({row[j] for row, v in zip(raw, out[name]) if np.isnan(v)})[:3]
            logger.warning(
                "judge score %r: %d of %d answers did not parse (recorded as missing, NaN); for example %s",
                name, missing, len(raw), examples,
            )
    return out
