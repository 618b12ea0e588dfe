"""Dataset-cartography plot of a curriculum's data map: confidence against variability, one colour per category."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .datamap import AMBIGUOUS_VARIABILITY, CATEGORIES, EASY_CONFIDENCE

__all__ = ["plot_data_map"]

MAX_POINTS = 20_000
# One fixed colour per category (matplotlib's tab10 and greys), so that plots of different runs compare at a glance.
COLORS = {
    "easy": "#2ca02c",
    "ambiguous": "#1f77b4",
    "hard": "#ff7f0e",
    "suspected_noise": "#d62728",
    "duplicate": "#7f7f7f",
    "never_trained": "#c7c7c7",
}
_INSTALL = 'the data-map plot needs matplotlib, which is not installed: pip install "curriculum[plot]"'


def _matplotlib() -> tuple[Any, Any]:
    """matplotlib's `Figure` and Agg canvas, or an ImportError that says how to install it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(_INSTALL, name="matplotlib") from err
    return Figure, FigureCanvasAgg


def _columns(data_map: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [key for key in ("category", "confidence", "variability") if key not in data_map]
    if missing:
        raise ValueError(
            f"data_map lacks the key(s) {missing} (it has {sorted(data_map)}); pass the dict of "
            "`Curriculum.data_map()`"
        )
    category = np.asarray(data_map["category"], dtype=object)
    confidence = np.asarray(data_map["confidence"], dtype=np.float64)
    variability = np.asarray(data_map["variability"], dtype=np.float64)
    shapes = {"category": category.shape, "confidence": confidence.shape, "variability": variability.shape}
    if len(set(shapes.values())) != 1 or category.ndim != 1:
        raise ValueError(f"data_map's category, confidence and variability should be 1-D of one length, got {shapes}")
    unknown = sorted({str(c) for c in category.tolist()} - set(CATEGORIES))
    if unknown:
        raise ValueError(
            f"data_map['category'] holds unknown categories {unknown}; the categories are {list(CATEGORIES)}"
        )
    return category, confidence, variability


def plot_data_map(data_map: dict, path: str | os.PathLike, title: str | None = None) -> str:
    r"""
    Write the dataset-cartography plot (Swayamdipta et al., 2020) of a data map to a PNG file: each row at x =
    variability (standard deviation of its confidence across visits), y = confidence (running mean target-token
    probability), coloured by its category, with the thresholds of the `easy` and `ambiguous` categories drawn as
    dashed lines.

    Rows without a confidence or a variability (never trained on: NaN) are not plotted, but the legend counts every
    row of each category and says how many are not plotted. Above 20,000 plotted rows, a random subset of 20,000
    (always the same for the same data map) is drawn; the legend still counts all rows. The colours are fixed per
    category. Needs matplotlib (`pip install "curriculum[plot]"`); it draws with the Agg backend and leaves
    pyplot's state alone.

    Args:
        data_map (`dict`):
            Per-row arrays with at least `category` (names of [`~curriculum.datamap.CATEGORIES`]), `confidence` and
            `variability`, as [`Curriculum.data_map`] returns them.
        path (`str` or `os.PathLike`):
            The PNG file to write (its folder is created if missing).
        title (`str`, *optional*):
            Title of the plot. Default: "Data map (N rows)".

    Returns:
        `str`: `path`.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.plot import plot_data_map
    >>> data_map = {"category": np.array(["easy", "hard", "never_trained"], dtype=object),
    ...             "confidence": np.array([0.9, 0.1, np.nan]), "variability": np.array([0.05, 0.02, np.nan])}
    >>> plot_data_map(data_map, "data_map.png")  # doctest: +SKIP
    'data_map.png'
    ```
    """
    category, confidence, variability = _columns(data_map)
    Figure, FigureCanvasAgg = _matplotlib()
    from matplotlib.lines import Line2D

    n = len(category)
    plotted = np.isfinite(confidence) & np.isfinite(variability)
    shown = np.flatnonzero(plotted)
    if shown.size > MAX_POINTS:
        shown = np.sort(np.random.default_rng(0).choice(shown, size=MAX_POINTS, replace=False))

    figure = Figure(figsize=(9.5, 6.0))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    size = 16.0 if shown.size <= 2_000 else 4.0
    handles = []
    for name in CATEGORIES:
        members = category == name
        count = int(members.sum())
        if not count:
            continue
        rows = shown[category[shown] == name]
        if rows.size:
            ax.scatter(variability[rows], confidence[rows], s=size, color=COLORS[name], alpha=0.6, linewidths=0)
        hidden = int((members & ~plotted).sum())
        label = f"{name} ({count:,})"
        if hidden == count:
            label = f"{name} ({count:,}, not plotted)"
        elif hidden:
            label = f"{name} ({count:,}, {hidden:,} not plotted)"
        handles.append(Line2D([], [], linestyle="", marker="o", markersize=6, color=COLORS[name], label=label))
    ax.axhline(EASY_CONFIDENCE, color="black", linestyle="--", linewidth=0.8, alpha=0.5)
    ax.axvline(AMBIGUOUS_VARIABILITY, color="black", linestyle="--", linewidth=0.8, alpha=0.5)
    top = np.nanmax(variability[shown]) if shown.size else 0.0
    ax.set_xlim(-0.01, max(0.5, float(top) * 1.05))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("variability (std of confidence across visits)")
    ax.set_ylabel("confidence (mean target-token probability)")
    if title is None:
        title = f"Data map ({n:,} rows)"
    if int(plotted.sum()) > shown.size:
        title += f"\n{shown.size:,} of {int(plotted.sum()):,} trained rows drawn"
    ax.set_title(title)
    if handles:
        # Outside the axes, right of them: it never hides a point.
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", title="category (rows)"
        )
    ax.grid(alpha=0.2)
    figure.tight_layout()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, format="png", dpi=120)
    return path
