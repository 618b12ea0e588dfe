"""THTB scores of a benchmark pool: the extrinsic half (IREI length, TF-IDF cluster hardness) and, with a tiny judge,
the intrinsic half and the quality filter.

No instruct model exists in this benchmark (its models are tiny, trained from scratch on arithmetic and string
tasks), so the judge is a stand-in that answers in the parsed format but knows nothing: a seeded bigram machine (a
tiny Llama whose greedy continuation depends only on the last token, see `tests/integration/test_judge.py`) that maps each
character to a pseudo-random digit, each digit to a space, and the space to a digit. Asked about "{instruction}"
(bloom, disciplines) or "{response}" (quality) with `max_new_tokens=2`, it answers "d " where d is a function of
the row's last character: every answer parses, and the intrinsic half and the quality filter are *noise* with
respect to difficulty. That noise is not independent of the rows, as a real small judge's would not be either: the
prompts of a task share their last character (the format), so the bloom and discipline answers are constant within a
task, and the quality answer is a function of the completion's last character. The judge's half thus reweights
whole tasks arbitrarily. What the THTB strategies measure here is therefore the extrinsic half's contribution (and
the cost of a knowledge-free judge); the `thtb_extrinsic` strategies isolate the extrinsic half.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np

__all__ = ["noise_judge", "pool_thtb"]

HALF = 0.5  # the static selection keeps the hardest half of the pool, as the `offline` (loss) strategy does


def noise_judge(tokenizer: Any, seed: int) -> Any:
    """The seeded bigram judge described in the module docstring: after a digit 1-9 a space (the answer ends), after
    any other token a digit 1-6 drawn once per token (valid for every score)."""
    from curriculum.toy import make_bigram_model

    rng = random.Random(f"noise-judge-{seed}")
    digits = [str(d) for d in range(1, 10)]
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))  # drawn in id order
    answers = {token: " " if token in digits else rng.choice(digits[:6]) for token in tokens}
    return make_bigram_model(tokenizer, answers.__getitem__)


def pool_thtb(data: Any, tokenizer: Any, seed: int, workdir: str, judge: bool) -> np.ndarray:
    """Each row's THTB score (`curriculum.scoring.thtb`): with `judge`, quality filter and both halves from the noise
    judge and the extrinsic scores; without, the extrinsic half only (no filter). NaN for a filtered-out row."""
    from curriculum.scoring import score_dataset
    from curriculum.scoring.thtb import thtb_scores

    from .run import CLUSTERS

    rows = data.select_columns(["prompt", "completion"])
    scorers = ["length", "cluster"]
    kwargs: dict[str, Any] = {}
    if judge:
        os.makedirs(workdir, exist_ok=True)
        paths = {}
        for name, text in (("quality", "{response}"), ("bloom", "{instruction}"), ("disciplines", "{instruction}")):
            paths[name] = os.path.join(workdir, f"{name}.txt")
            with open(paths[name], "w") as f:
                f.write(text)
        scorers += ["quality", "bloom", "disciplines"]
        kwargs = dict(judge_model=noise_judge(tokenizer, seed), judge_tokenizer=tokenizer, judge_templates=paths,
                      max_new_tokens=2, judge_batch_size=64)  # fmt: skip
    scored = score_dataset(rows, scorers, tokenizer=tokenizer, clusters=CLUSTERS, seed=seed, progress=False, **kwargs)
    parts = {k: scored["score_" + k] for k in ("length", "cluster")}
    quality = None
    if judge:
        parts.update({k: scored["score_" + k] for k in ("bloom", "disciplines")})
        quality = scored["score_quality"]
    return thtb_scores(parts, quality=quality)
