"""`python -m benchmarks.learning.readme`: rewrite the learning results page and the README's headline from the runs."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .pools import pools_of
from .protocol import comparison_table, criteria, pools_table, readme_summary, share_checks
from .report import load_results

__all__ = ["BLOCKS", "PAGES", "fill", "main"]

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


BLOCKS: dict[str, Callable[[list[dict[str, Any]]], str]] = {
    "headline": _headline,
    "pools": lambda results: pools_table(),
    "screen": lambda results: comparison_table(results, list(SCREEN), pools_of("tuning"), seed=0),
    "protocol": lambda results: readme_summary(results, "online", "validation"),
    "shares": _shares,
    "verdict": _verdict,
}


# The files whose blocks the script writes, and which blocks each holds.
PAGES = {"README.md": ("headline",), "docs/results/learning.md": ("pools", "screen", "protocol", "shares", "verdict")}


def fill(text: str, results: list[dict[str, Any]], blocks: Sequence[str] = tuple(BLOCKS)) -> str:
    """`text` with each `<!-- NAME:start -->...<!-- NAME:end -->` block of `blocks` rewritten from `results`."""
    for name in blocks:
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"the page has no <!-- {name}:start --> ... <!-- {name}:end --> block")
        text = pattern.sub(lambda m: m.group(1) + BLOCKS[name](results).rstrip("\n") + "\n" + m.group(2), text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning.readme", description=__doc__)
    parser.add_argument("--results", default="docs/learning/small/protocol/results.jsonl")
    parser.add_argument("--root", default=".", help="the repository root (default: the current folder)")
    args = parser.parse_args(argv)
    results = load_results(args.results)
    for name, blocks in PAGES.items():
        page = Path(args.root, name)
        page.write_text(fill(page.read_text(), results, blocks))
        print(f"rewrote {', '.join(blocks)} in {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
