"""`python -m benchmarks.learning.readme`: rewrite the learning results page and the README's headline from the runs."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .pools import pools_of
from .protocol import comparison_table, criteria, pools_table, readme_summary, share_checks
from .report import _band_table, _cell, load_results

__all__ = ["BLOCKS", "PAGES", "SOURCES", "fill", "load_sources", "main"]

# The screen's candidate with exactly the defaults' settings: its runs stand for the defaults on the tuning pools.
DEFAULTS_TWIN = "safe_wor"
# The candidates of the third round's screen (issue 19), seed 0 on the tuning pools, in the README's order.
SCREEN = ("safe_wr", "safe_wor", "safe_wor_nobal", "dup_wor", "safe_wor_noise1", "online")


def _shares(results: list[dict[str, Any]]) -> str:
    """Per pool, the defaults' task-share checks: the lowest drawn/natural share of a learnable task over fifths of
    training, and the largest change between consecutive refreshes."""
    from .protocol import _learnable

    lines = ["| pool | role | lowest drawn / natural share of a learnable task (fifths) | largest change between "
             "refreshes |", "|---|---|---:|---:|"]
    for role in ("validation", "tuning"):
        for pool in pools_of(role):
            runs = [r for r in results if r["pool"] == pool and r["strategy"] == "online" and r.get("drawn")]
            runs = runs or [r for r in results if r["pool"] == pool and r["strategy"] == DEFAULTS_TWIN and r.get("drawn")]
            if not runs:
                continue
            check = share_checks(runs, _learnable(pool))
            low = min((check["min_ratio"] or {}).values(), default=None)
            factor = check["max_factor"]
            if low is None and factor is None:
                continue  # runs recorded before the shares were
            lines.append(f"| `{pool}` | {role} | {'-' if low is None else f'{low:.2f}'} | "
                         f"{'-' if factor is None else f'{factor:.2f}'} |")
    return "\n".join(lines)


def _verdict(results: list[dict[str, Any]]) -> str:
    """One line per validation pool: where the defaults fall under uniform minus one standard error, or need more
    than 0.6 of uniform's examples."""
    lines = []
    for row in criteria([r for r in results if r["strategy"] in ("uniform", "online")], "online"):
        if row["role"] != "validation":
            continue
        misses = [f"{b:,}" for b, ok in row["at_least_uniform_minus_se"].items() if not ok]
        share = row["share_to_reach_uniform_max"]
        reach = "never reaches uniform's largest-budget accuracy" if share != share else f"needs {share:.2f} of uniform's examples"
        below = f"under uniform minus one SE at {', '.join(misses)}" if misses else "at or above uniform minus one SE at every budget"
        lines.append(f"- `{row['pool']}`: {below}; {reach}.")
    return "\n".join(lines)


def _headline(results: list[dict[str, Any]]) -> str:
    """Per budget, over the validation pools: the defaults' mean difference to uniform (paired by seed), the worst
    and best pool, and how many pools are at or above uniform minus one standard error."""
    rows = criteria([r for r in results if r["strategy"] in ("uniform", "online")], "online")
    rows = [r for r in rows if r["role"] == "validation"]
    budgets = sorted({b for r in rows for b in r["at_least_uniform_minus_se"]})
    lines = ["| examples | defaults - uniform, mean over pools | worst pool | best pool | pools at or above uniform - 1 SE |",
             "|---:|---:|---:|---:|---:|"]
    for budget in budgets:
        diffs = [r["difference"][budget] for r in rows if r["difference"].get(budget) == r["difference"].get(budget)]
        ok = sum(bool(r["at_least_uniform_minus_se"].get(budget)) for r in rows)
        lines.append(f"| {budget:,} | {sum(diffs) / len(diffs):+.1f} | {min(diffs):+.1f} | {max(diffs):+.1f} | "
                     f"{ok} of {len(rows)} |")
    return "\n".join(lines)


# The pool of the budget-difficulty study (issue 19): clean rows of every level, from the base model that knows
# levels 1-2.
BAND_POOL = "skills_base_clean"


def _bands(results: list[dict[str, Any]]) -> str:
    """Test and extrapolation exact match of training on one level only, and uniform over all levels, by budget."""
    cells: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in results:
        if r["pool"] == BAND_POOL and (r["strategy"].startswith("band") or r["strategy"] == "uniform"):
            cells.setdefault((r["strategy"], r["budget"]), []).append(r)
    budgets = sorted({b for s, b in cells if s.startswith("band")})
    seeds = sorted({r["seed"] for (s, _), rs in cells.items() if s.startswith("band") for r in rs})
    out = [f"Pool `{BAND_POOL}`, seeds {', '.join(map(str, seeds))} (mean ± std); each band is the 1,500 rows of "
           "one level.", "", "Test exact match % (all levels):", ""]
    out += _band_table(cells, budgets)[0]
    out += ["", "Extrapolation exact match % (level 5, never trained on):", ""]
    out += _band_table(cells, budgets, "extrapolation_accuracy")[0]
    uniform = [f"{b:,}: {_cell([r for r in cells.get(('uniform', b), []) if r['seed'] in seeds], 'test_accuracy')}"
               for b in budgets]
    out += ["", "Uniform over all levels, test exact match %: " + "; ".join(uniform) + "."]
    return "\n".join(out)


# How each noise signal is named in the results page.
SIGNAL_LABELS = {"loss": "running loss", "first_loss": "first-visit loss", "gap": "loss - (-log confidence)",
                 "cartography_hard": "cartography: hard to learn"}
FILTERS = {"online_noise_loss": "loss", "online_noise_first": "first_loss", "online_noise_gap": "gap"}


def _noise(results: list[dict[str, Any]]) -> str:
    """Per pool and budget: each noise signal's precision and recall on the defaults' final score table, and the
    defaults with the noise filter on each signal against the defaults and uniform (test exact match, wrong answers
    drawn after the first fifth)."""
    from .protocol import late_noisy_share

    pools = list(dict.fromkeys(r["pool"] for r in results))
    budgets = sorted({r["budget"] for r in results})
    out = ["Detection (suspected noise = posterior above 0.5; precision / recall of the known wrong rows, on the "
           "defaults' score table at the end of training):", "",
           "| pool | examples | " + " | ".join(SIGNAL_LABELS.values()) + " |", "|---|---:|" + "---:|" * len(SIGNAL_LABELS)]
    for pool in pools:
        for b in budgets:
            runs = [r for r in results if r["pool"] == pool and r["budget"] == b and r["strategy"] == "online"
                    and r.get("noise_detection_by_signal")]
            if not runs:
                continue
            cells = []
            for name in SIGNAL_LABELS:
                found = [r["noise_detection_by_signal"][name] for r in runs]
                precision = np.nanmean([f["precision"] for f in found]) if any(f["flagged"] for f in found) else None
                recall = np.mean([f["recall"] for f in found])
                cells.append("none flagged" if precision is None else f"{precision:.0%} / {recall:.0%}")
            out.append(f"| `{pool}` | {b:,} | " + " | ".join(cells) + " |")
    out += ["", "Down-weighting the suspects (test exact match %, and in brackets the share of wrong answers among the "
            "rows drawn after the first fifth of training; the pools hold 15% or 30%, as their names say):", "", "| pool | examples | uniform | defaults | " + " | ".join(
                f"+ filter on {SIGNAL_LABELS[s]}" for s in FILTERS.values()) + " |",
            "|---|---:|---:|---:|" + "---:|" * len(FILTERS)]
    for pool in pools:
        for b in budgets:
            def cell(strategy: str) -> str:
                runs = [r for r in results if r["pool"] == pool and r["budget"] == b and r["strategy"] == strategy]
                if not runs:
                    return "-"
                accuracy = np.mean([100 * r["test_accuracy"] for r in runs])
                late = [x for r in runs if (x := late_noisy_share(r)) is not None]
                return f"{accuracy:.1f}" + (f" ({np.mean(late):.0%})" if late else "")

            out.append(f"| `{pool}` | {b:,} | " + " | ".join(cell(s) for s in ("uniform", "online", *FILTERS)) + " |")
    return "\n".join(out)


def _paired(results: list[dict[str, Any]], pool: str, budget: int) -> list[float]:
    """The defaults minus uniform in points, per seed both ran."""
    runs = {(r["strategy"], r["seed"]): 100 * r["test_accuracy"] for r in results
            if r["pool"] == pool and r["budget"] == budget and r["strategy"] in ("uniform", "online")}
    return [runs[("online", s)] - runs[("uniform", s)] for (name, s) in runs if name == "online" and ("uniform", s) in runs]


def _medium(sources: dict[str, list[dict[str, Any]]]) -> str:
    """The second model size on its validation pools, and whether it agrees in sign with the first where the first
    shows a difference beyond one standard error (of the paired differences)."""
    medium, small = sources.get("medium", []), sources.get("small", [])
    if not medium:
        return "No runs yet."
    lines = [readme_summary(medium, "online", "validation"), "", "Against the small size (paired differences, "
             "defaults - uniform, mean ± standard error):", ""]
    for pool in dict.fromkeys(r["pool"] for r in medium):
        for budget in sorted({r["budget"] for r in medium if r["pool"] == pool}):
            a, b = _paired(small, pool, budget), _paired(medium, pool, budget)
            if len(a) < 2 or not b:
                continue
            se = float(np.std(a, ddof=1) / np.sqrt(len(a)))
            beyond = abs(np.mean(a)) > se
            agree = np.sign(np.mean(a)) == np.sign(np.mean(b))
            verdict = ("the sizes agree in sign" if agree else "the sizes disagree in sign") if beyond else \
                "the small size shows no difference beyond one standard error"
            lines.append(f"- `{pool}`, {budget:,} examples: small {np.mean(a):+.1f} ± {se:.1f} ({len(a)} seeds), "
                         f"medium {np.mean(b):+.1f} ({len(b)} seeds): {verdict}.")
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[Any], str]] = {
    "headline": _headline,
    "pools": lambda results: pools_table(),
    "screen": lambda results: comparison_table(results, list(SCREEN), pools_of("tuning"), seed=0),
    "protocol": lambda results: readme_summary(results, "online", "validation"),
    "shares": _shares,
    "verdict": _verdict,
    "bands": _bands,
    "noise": _noise,
    "medium": _medium,
}
# Where each block's runs are recorded (relative to the repository root); a block not listed reads `small`.
SOURCES = {"small": "docs/learning/small/protocol/results.jsonl", "noise": "docs/learning/small/noise/results.jsonl",
           "medium": "docs/learning/medium/protocol/results.jsonl"}
BLOCK_SOURCE = {"noise": "noise", "medium": "all"}  # "all": the block reads every source


def load_sources(root: str | Path = ".") -> dict[str, list[dict[str, Any]]]:
    """Every source's runs (none where its file does not exist yet)."""
    return {name: load_results(Path(root, path)) if Path(root, path).exists() else [] for name, path in SOURCES.items()}


# The files whose blocks the script writes, and which blocks each holds.
PAGES = {"README.md": ("headline",),
         "docs/results/learning.md": ("pools", "screen", "protocol", "shares", "verdict", "bands", "noise", "medium")}


def fill(text: str, sources: dict[str, list[dict[str, Any]]], blocks: Sequence[str] = tuple(BLOCKS)) -> str:
    """`text` with each `<!-- NAME:start -->...<!-- NAME:end -->` block of `blocks` rewritten from the runs of its
    source (see [`load_sources`])."""
    for name in blocks:
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"the page has no <!-- {name}:start --> ... <!-- {name}:end --> block")
        source = BLOCK_SOURCE.get(name, "small")
        body = (BLOCKS[name](sources) if source == "all" else BLOCKS[name](sources.get(source, []))).rstrip("\n")
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning.readme", description=__doc__)
    parser.add_argument("--root", default=".", help="the repository root (default: the current folder)")
    args = parser.parse_args(argv)
    sources = load_sources(args.root)
    for name, blocks in PAGES.items():
        page = Path(args.root, name)
        page.write_text(fill(page.read_text(), sources, blocks))
        print(f"rewrote {', '.join(blocks)} in {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
