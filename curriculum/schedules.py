"""Target-difficulty schedules: pure functions of training progress p in [0, 1]."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

__all__ = ["SCHEDULES"]


def _clip(p: float) -> float:
    return 0.0 if p < 0.0 else 1.0 if p > 1.0 else float(p)


def constant(p: float, start: float, end: float) -> float:
    """Always `start` (the `end` argument is ignored)."""
    return float(start)


def linear(p: float, start: float, end: float) -> float:
    """Straight line from `start` at p=0 to `end` at p=1."""
    return start + (end - start) * _clip(p)


def cosine(p: float, start: float, end: float) -> float:
    """Half-cosine from `start` to `end`: slow at both ends, fastest in the middle."""
    return start + (end - start) * 0.5 * (1.0 - math.cos(math.pi * _clip(p)))


def root(p: float, start: float, end: float, degree: float = 2.0) -> float:
    """DeepSpeed's `fixed_root`: `start + (end - start) * p ** (1 / degree)`; rises fast, then flattens."""
    return start + (end - start) * _clip(p) ** (1.0 / degree)


def step(p: float, start: float, end: float, milestones: Sequence[float] = (0.5,)) -> float:
    """Piecewise constant: jumps by `(end - start) / len(milestones)` at each milestone (a progress value)."""
    if not milestones:
        return float(start)
    passed = sum(1 for m in milestones if _clip(p) >= m)
    return start + (end - start) * passed / len(milestones)


def exponential(p: float, start: float, end: float, rate: float = 5.0) -> float:
    """Saturating exponential: `start + (end - start) * (1 - exp(-rate * p)) / (1 - exp(-rate))`."""
    return start + (end - start) * (1.0 - math.exp(-rate * _clip(p))) / (1.0 - math.exp(-rate))


SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant,
    "linear": linear,
    "cosine": cosine,
    "root": root,
    "step": step,
    "exponential": exponential,
}


def make_schedule(
    name: str,
    start: float,
    end: float,
    degree: float = 2.0,
    milestones: Sequence[float] = (0.5,),
    rate: float = 5.0,
) -> Callable[[float], float]:
    """Bind a schedule's parameters, returning a picklable `f(p) -> target difficulty`.

    Example:

    ```python
    >>> from curriculum.schedules import make_schedule
    >>> f = make_schedule("linear", start=0.2, end=0.8)
    >>> round(f(0.5), 3)
    0.5
    ```
    """
    if name not in SCHEDULES:
        raise ValueError(f"schedule should be one of {sorted(SCHEDULES)}, but got schedule={name!r}")
    extra: dict[str, object] = {}
    if name == "root":
        extra["degree"] = degree
    elif name == "step":
        extra["milestones"] = tuple(milestones)
    elif name == "exponential":
        extra["rate"] = rate
    return partial(SCHEDULES[name], start=start, end=end, **extra)
