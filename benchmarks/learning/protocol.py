"""The protocol report: strategies against uniform on every pool of the family, tuning and validation apart."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .pools import POOLS, ROLES, pools_of
from .report import _labels, _mean_std, _plt, budget_to_reach

__all__ = ["comparison_table", "criteria", "expand_pools", "late_noisy_share", "plot_protocol", "plot_task_shares",
           "pools_table", "readme_summary", "share_checks", "write_protocol_report"]

# The task-share checks: no learnable task drawn under this share of its natural (pool) share in any fifth of
# training, and no logged task share changing by more than this factor between consecutive refreshes.
MIN_SHARE_RATIO = 0.5
MAX_SHARE_FACTOR = 2.0
# The late-wrong-answer check: after the first fifth, wrong answers drawn at most at the pool's share, and at most
# this factor of it on pools with base knowledge (where the model knows enough to tell wrong answers from hard ones).
BASE_NOISE_FACTOR = 0.8


def expand_pools(text: str) -> list[str]:
    """`"tuning"`, `"validation"`, `"all"` or comma-separated pool names -> pool names, checked."""
    names: list[str] = []
    for item in (x.strip() for x in text.split(",") if x.strip()):
        if item == "all":
            names += list(POOLS)
        elif item in ROLES:
            names += pools_of(item)
        elif item in POOLS:
            names.append(item)
        else:
            raise ValueError(f"unknown pool {item!r}; choose from {[*ROLES, 'all', *POOLS]}")
    return list(dict.fromkeys(names))


def _cell(values: list[float]) -> str:
    """Mean ± std over seeds, or the one value when there is a single seed (no spread to show)."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0] + 0.0:.1f}"
    mean, std = _mean_std(values)
    return f"{round(mean, 1) + 0.0:.1f} ± {std:.1f}"  # + 0.0: no "-0.0"


def late_noisy_share(r: dict[str, Any]) -> float | None:
    """Share of wrong answers among the rows trained on after the first fifth of training."""
    phases = r.get("drawn", {}).get("noisy")
    return float(np.mean(phases[1:])) if phases and len(phases) > 1 else None


def _learnable(name: str) -> tuple[str, ...]:
    from .testbed import FAMILIES

    return FAMILIES[POOLS[name].pathologies.family].tasks


def _max_factor(shares: dict[str, list[float]]) -> float:
    """The largest factor between consecutive values of any of the share series (inf where a share drops to 0 or
    rises from it)."""
    worst = 1.0
    for values in shares.values():
        for a, b in zip(values, values[1:]):
            if not (np.isfinite(a) and np.isfinite(b)) or a == b:
                continue
            worst = max(worst, float("inf") if min(a, b) <= 0 else max(a, b) / min(a, b))
    return worst


def share_checks(runs: list[dict[str, Any]], tasks: tuple[str, ...]) -> dict[str, Any]:
    """Task shares of a strategy's runs on one pool: per learnable task, the minimum over runs and fifths of (drawn
    share / natural share) (from `drawn`), and the largest factor between consecutive logged shares of any task
    (from `share_trace`); `None` where the runs recorded neither."""
    ratios: dict[str, float] = {}
    for t in tasks:
        values = [share / r["drawn"]["natural"][t] for r in runs if r.get("drawn", {}).get("natural", {}).get(t)
                  for share in r["drawn"].get(f"task_{t}", [])]
        if values:
            ratios[t] = float(min(values))
    traces = [r["share_trace"]["shares"] for r in runs if r.get("share_trace", {}).get("shares")]
    factor = max((_max_factor(shares) for shares in traces), default=None)
    return {
        "min_ratio": ratios or None,
        "max_factor": factor,
        "no_task_under_half": None if not ratios else bool(min(ratios.values()) >= MIN_SHARE_RATIO),
        "no_jump_over_2x": None if factor is None else bool(factor <= MAX_SHARE_FACTOR),
    }


def _yes_no(value: bool | None) -> str:
    return "not recorded" if value is None else "holds" if value else "fails"


def _share_lines(name: str, cells: dict[tuple[str, int], list[dict[str, Any]]], strategies: list[str],
                 budgets: list[int]) -> list[str]:  # fmt: skip
    labels = _labels()
    tasks = _learnable(name)
    rows, verdicts = [], []
    for s in strategies:
        runs = [r for b in budgets for r in cells[(s, b)]]
        if s == "uniform" or not any(r.get("drawn") for r in runs):
            continue
        check = share_checks(runs, tasks)
        ratios = check["min_ratio"] or {}
        factor = check["max_factor"]
        rows.append(f"| {labels.get(s, s)} | " + " | ".join(f"{ratios[t]:.2f}" if t in ratios else "-" for t in tasks)
                    + f" | {'-' if factor is None else f'{factor:.2f}'} |")
        verdicts.append(f"{labels.get(s, s)}: no learnable task under half its natural share in any fifth "
                        f"{_yes_no(check['no_task_under_half'])}; no share changes by more than 2x between refreshes "
                        f"{_yes_no(check['no_jump_over_2x'])}.")
    if not rows:
        return []
    head = ["", "Task shares: per learnable task, the lowest drawn share over fifths of training divided by its natural "
                "(pool) share, and the largest factor between consecutive logged task shares of any task (all "
                "budgets and seeds).", "",
            "| strategy | " + " | ".join(f"`{t}`" for t in tasks) + " | largest change between refreshes |",
            "|---|" + "---:|" * (len(tasks) + 1)]
    return head + rows + [""] + [f"- {v}" for v in verdicts]


def _band_line(cells: dict[tuple[str, int], list[dict[str, Any]]], budgets: list[int]) -> list[str]:
    """The best band (a `band{lv}` strategy: one level of the pool only) per budget, if band strategies ran."""
    best = []
    for b in budgets:
        means = {int(s[4:]): np.mean([r["test_accuracy"] for r in runs]) for (s, bb), runs in cells.items()
                 if bb == b and s.startswith("band") and s[4:].isdigit() and runs}
        if means:
            best.append(f"{b:,}: level {max(means, key=means.get)}")
    return ["", f"Best band (one level of the pool only) by budget: {'; '.join(best)}."] if best else []


def _pool_section(name: str, results: list[dict[str, Any]], strategies: list[str], budgets: list[int]) -> list[str]:
    spec = POOLS[name]
    cells: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        cells[(r["strategy"], r["budget"])].append(r)
    seeds = sorted({r["seed"] for r in results})
    labels = _labels()
    lines = [f"#### `{name}` ({spec.role})", "", f"{spec.describe()}. Seeds: {', '.join(map(str, seeds))}.", ""]
    lines += ["| strategy | " + " | ".join(f"{b:,} examples" for b in budgets) + " |", "|---|" + "---:|" * len(budgets)]
    for s in strategies:
        accuracy = [_cell([100 * r["test_accuracy"] for r in cells[(s, b)]]) for b in budgets]
        lines.append(f"| {labels.get(s, s)} | " + " | ".join(accuracy) + " |")
    for s in strategies:
        if s == "uniform":
            continue
        diffs = []
        for b in budgets:
            base = {r["seed"]: r["test_accuracy"] for r in cells[("uniform", b)]}
            paired = [100 * (r["test_accuracy"] - base[r["seed"]]) for r in cells[(s, b)] if r["seed"] in base]
            diffs.append(("+" if paired and round(np.mean(paired), 1) >= 0 else "") + _cell(paired))
        lines.append(f"| {labels.get(s, s)} − uniform (paired) | " + " | ".join(diffs) + " |")
    if spec.pathologies.noise:
        shares = []
        for s in strategies:
            late = [x for b in budgets for r in cells[(s, b)] if (x := late_noisy_share(r)) is not None]
            if late:
                shares.append(f"{labels.get(s, s)} {np.mean(late):.0%}")
        lines += ["", f"Wrong answers among the rows trained on after the first fifth (pool: "
                      f"{spec.pathologies.noise:.0%}): {'; '.join(shares) or '-'}."]
        found = []
        for s in strategies:
            runs = [r["noise_detection"] for b in budgets for r in cells[(s, b)] if "noise_detection" in r]
            if runs:
                precision = np.nanmean([r["precision"] for r in runs]) if any(r["flagged"] for r in runs) else np.nan
                recall = np.mean([r["recall"] for r in runs])
                found.append(f"{labels.get(s, s)}: precision {precision:.0%}, recall {recall:.0%}"
                             if np.isfinite(precision) else f"{labels.get(s, s)}: no row flagged")
        if found:
            lines += ["", "Suspected noise (posterior above 0.5 at the end of training) against the known wrong rows, "
                          f"mean over runs: {'; '.join(found)}."]
    lines += _share_lines(name, cells, strategies, budgets)
    lines += _band_line(cells, budgets)
    return lines + [""]


def criteria(results: list[dict[str, Any]], strategy: str) -> list[dict[str, Any]]:
    """Per pool, the issue's checks of `strategy` against uniform: at every budget its mean is at least uniform's
    mean minus one standard error (over seeds); the fewest examples (interpolated linearly between budgets) at which
    its mean reaches uniform's mean at the largest budget, as a share of that budget; and on pools with wrong answers
    the share of them among the rows drawn after the first fifth (mean over runs), which should be at most the pool's
    share (`BASE_NOISE_FACTOR` x it on pools with base knowledge): `late_noisy_share`, `late_noisy_limit` and
    `late_noisy_ok` (None where not applicable or not recorded); `difference`: its mean minus uniform's per budget."""
    rows = []
    by_pool: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_pool[r["pool"]].append(r)
    for pool, runs in by_pool.items():
        # Uniform over the seeds the strategy ran (a strategy run on fewer seeds is compared with the same ones).
        seeds = {r["seed"] for r in runs if r["strategy"] == strategy}

        def mean_se(s: str, b: int) -> tuple[float, float, int]:
            values = [100 * r["test_accuracy"] for r in runs if r["strategy"] == s and r["budget"] == b
                      and r["seed"] in seeds]
            if not values:
                return float("nan"), float("nan"), 0
            se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
            return float(np.mean(values)), se, len(values)

        budgets = sorted({r["budget"] for r in runs if r["strategy"] == strategy} &
                         {r["budget"] for r in runs if r["strategy"] == "uniform"})
        if not budgets:
            continue
        checks, curve, difference = {}, [], {}
        for b in budgets:
            u, u_se, _ = mean_se("uniform", b)
            m, _, n = mean_se(strategy, b)
            checks[b] = bool(m >= u - (u_se if np.isfinite(u_se) else 0.0))
            difference[b] = m - u
            curve.append(m)
        reached = budget_to_reach(budgets, curve, mean_se("uniform", budgets[-1])[0])
        share = float("nan") if reached is None else reached / budgets[-1]
        spec = POOLS[pool].pathologies
        late = [x for r in runs if r["strategy"] == strategy and (x := late_noisy_share(r)) is not None]
        limit = spec.noise * (BASE_NOISE_FACTOR if spec.base else 1.0) if spec.noise else None
        late_share = float(np.mean(late)) if late else None
        rows.append({"pool": pool, "role": POOLS[pool].role, "family": spec.family, "at_least_uniform_minus_se": checks,
                     "difference": difference,
                     "share_to_reach_uniform_max": share, "budgets": budgets, "late_noisy_share": late_share,
                     "late_noisy_limit": limit,
                     "late_noisy_ok": None if limit is None or late_share is None else bool(late_share <= limit)})
    return rows


def _criteria_section(results: list[dict[str, Any]], strategy: str) -> list[str]:
    rows = criteria(results, strategy)
    if not rows:
        return []
    budgets = sorted({b for r in rows for b in r["budgets"]})
    lines = [f"## The checks, for `{strategy}`", "",
             "At or above uniform minus one standard error at each budget (✓/✗), and the share of uniform's largest "
             "budget the strategy needs to reach uniform's accuracy there (linear in log budget between budgets; goal: at most 0.6 "
             "on the pathological validation pools); wrong answers among the rows drawn after the first fifth against "
             f"the pool's share (at most it; at most {BASE_NOISE_FACTOR:g}x it on pools with base knowledge).", "",
             "| pool | role | family | " + " | ".join(f"{b:,}" for b in budgets) + " | examples to reach uniform's "
             "largest-budget accuracy | late wrong answers (limit) |", "|---|---|---|" + "---|" * len(budgets) + "---:|---:|"]
    for r in sorted(rows, key=lambda r: (ROLES.index(r["role"]), list(POOLS).index(r["pool"]))):
        checks = r["at_least_uniform_minus_se"]
        marks = " | ".join("-" if b not in checks else "✓" if checks[b] else "✗" for b in budgets)
        share = "not reached" if not np.isfinite(r["share_to_reach_uniform_max"]) else f"{r['share_to_reach_uniform_max']:.2f}"
        late = "-" if r["late_noisy_limit"] is None else (
            f"{'-' if r['late_noisy_share'] is None else format(r['late_noisy_share'], '.0%')} "
            f"({r['late_noisy_limit']:.0%}){'' if r['late_noisy_ok'] is None else ' ✓' if r['late_noisy_ok'] else ' ✗'}")
        lines.append(f"| `{r['pool']}` | {r['role']} | {r['family']} | {marks} | {share} | {late} |")
    return lines + [""]


# The strategies drawn in protocol.png when the defaults ran (the tables list every strategy).
PLOTTED = ("uniform", "online", "online_round2", "safe_wor")


def write_protocol_report(results: list[dict[str, Any]], out_dir: str | Path, size: Any, plot: bool = True) -> Path:
    """Write `protocol.md`: per pool, test exact match % of each strategy and its paired difference to uniform, the
    issue's checks per strategy; and `protocol.png` (see [`plot_protocol`]) unless `plot=False`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_pool: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_pool[r["pool"]].append(r)
    budgets = sorted({r["budget"] for r in results})
    strategies = list(dict.fromkeys(["uniform", *(r["strategy"] for r in results)]))
    md = [
        "# Learning protocol: every pool of the family", "",
        f"Size `{size.name}`: pools of {size.pool_rows:,} rows (x5 for the ~1-visit pools), a "
        f"{size.hidden_size}-wide {size.num_layers}-layer Llama warmed up on a copy task, budgets in training "
        "examples; test exact match % (mean ± std over seeds; one value for one seed), and each strategy's "
        "difference to uniform paired "
        "by seed. Defaults may be chosen on the tuning pools only; the validation pools were fixed in "
        "`benchmarks/learning/pools.py` before any tuning.", "",
    ]
    from .testbed import FAMILIES

    for role in ROLES:
        names = [n for n in pools_of(role) if n in by_pool]
        if names:
            md += [f"## {role.capitalize()} pools", ""]
            for family in FAMILIES:
                members = [n for n in names if POOLS[n].pathologies.family == family]
                if members:
                    md += [f"### Family `{family}`: {FAMILIES[family].description}", ""]
                for name in members:
                    md += _pool_section(name, by_pool[name], strategies, budgets)
    for strategy in strategies:
        if strategy != "uniform":
            md += _criteria_section(results, strategy)
    if plot:
        shown = [s for s in PLOTTED if s in strategies]
        plot_protocol(results, out / "protocol.png", shown if "online" in shown else None)
        md += ["![test exact match against the budget, per pool](protocol.png)", ""]
        if plot_task_shares(results, out / "task_shares.png") is not None:
            md += ["![logged task shares over training, per pool (first seed, largest budget)](task_shares.png)", ""]
    path = out / "protocol.md"
    path.write_text("\n".join(md) + "\n")
    return path


def plot_protocol(results: list[dict[str, Any]], path: str | Path, strategies: list[str] | None = None) -> Path:
    """Test exact match against the budget, one panel per pool (validation pools first), one line per strategy,
    error bars = std over seeds."""
    plt = _plt()
    labels = _labels()
    pools = [p for role in reversed(ROLES) for p in pools_of(role) if any(r["pool"] == p for r in results)]
    strategies = strategies or list(dict.fromkeys(["uniform", *(r["strategy"] for r in results)]))
    columns = 3
    rows = -(-len(pools) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    for ax, pool in zip(axes.flat, pools):
        runs = [r for r in results if r["pool"] == pool]
        budgets = sorted({r["budget"] for r in runs})
        for name in strategies:
            xs = [b for b in budgets if any(r["strategy"] == name and r["budget"] == b for r in runs)]
            if not xs:
                continue
            stats = [_mean_std([100 * r["test_accuracy"] for r in runs if r["strategy"] == name and r["budget"] == b])
                     for b in xs]
            ax.errorbar(xs, [m for m, _ in stats], yerr=[sd for _, sd in stats], label=labels.get(name, name),
                        ls="--" if name == "uniform" else "-", marker="o", capsize=3)
        ax.set_xscale("log")
        ax.set_xticks(budgets, [f"{b // 1000}k" for b in budgets])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_title(f"{pool} ({POOLS[pool].role})", fontsize=9)
        ax.set_xlabel("training examples")
        ax.set_ylabel("test exact match %")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(pools):]:
        ax.axis("off")
    legend: dict[str, Any] = {}
    for ax in axes.flat:
        legend.update(zip(*reversed(ax.get_legend_handles_labels())))
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=min(4, len(legend)), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_task_shares(results: list[dict[str, Any]], path: str | Path) -> Path | None:
    """The curriculum's logged task shares over training (`share_trace`), one small panel per pool (validation pools
    first), one colour per task and one line style per curriculum strategy, first seed and largest budget; each
    task's natural share dotted. None (and no file) when no run logged task shares."""
    traced = [r for r in results if r.get("share_trace", {}).get("shares")]
    if any(r["strategy"] == "online" for r in traced):  # the defaults only, where they ran
        traced = [r for r in traced if r["strategy"] == "online"]
    pools = [p for role in reversed(ROLES) for p in pools_of(role) if any(r["pool"] == p for r in traced)]
    if not pools:
        return None
    plt = _plt()
    labels = _labels()
    styles = ("-", "--", "-.", ":")
    strategies = list(dict.fromkeys(r["strategy"] for r in traced))
    columns = min(4, len(pools))
    rows = -(-len(pools) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for ax, pool in zip(axes.flat, pools):
        runs = [r for r in traced if r["pool"] == pool]
        top, seed = max(r["budget"] for r in runs), min(r["seed"] for r in runs)
        colours: dict[str, Any] = {}
        for r in sorted((r for r in runs if r["budget"] == top and r["seed"] == seed), key=lambda r: r["strategy"]):
            trace = r["share_trace"]
            style = styles[strategies.index(r["strategy"]) % len(styles)]
            for task, values in trace["shares"].items():
                line = ax.plot(trace["step"], values, ls=style, color=colours.get(task), lw=1.2,
                               label=f"{task} ({labels.get(r['strategy'], r['strategy'])})")[0]
                colours.setdefault(task, line.get_color())
            for task, share in r.get("drawn", {}).get("natural", {}).items():
                if task in colours:
                    ax.axhline(share, color=colours[task], ls=":", lw=0.8)
        ax.set_title(f"{pool} ({POOLS[pool].role}), {top // 1000}k, seed {seed}", fontsize=7)
        ax.set_xlabel("step", fontsize=7)
        ax.set_ylabel("task share", fontsize=7)
        ax.set_ylim(0, None)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=5)
    for ax in list(axes.flat)[len(pools):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def readme_summary(results: list[dict[str, Any]], strategy: str = "online", role: str = "validation") -> str:
    """The README's results block: for each pool of `role`, uniform and `strategy` at every budget (mean ± std over
    seeds) with their paired difference, the issue's checks, and the wrong answers drawn after the first fifth."""
    labels = _labels()
    pools = [p for p in pools_of(role) if any(r["pool"] == p and r["strategy"] == strategy for r in results)]
    budgets = sorted({r["budget"] for r in results if r["strategy"] == strategy and r["pool"] in pools})
    seeds = sorted({r["seed"] for r in results if r["strategy"] == strategy and r["pool"] in pools})
    checks = {r["pool"]: r for r in criteria([r for r in results if r["pool"] in pools], strategy)}
    lines = [
        f"Test exact match % on the {role} pools (mean ± std over seeds {', '.join(map(str, seeds))}; the difference "
        "is paired by seed); ✓ where the defaults are at or above uniform minus one standard error:", "",
        "| pool | " + " | ".join(f"{b:,}: uniform | defaults | diff" for b in budgets) + " | examples to reach "
        "uniform's accuracy at the largest budget |",
        "|---|" + "---:|---:|---:|" * len(budgets) + "---:|",
    ]
    for pool in pools:
        cells = []
        for b in budgets:
            m = {r["seed"]: 100 * r["test_accuracy"] for r in results
                 if r["pool"] == pool and r["strategy"] == strategy and r["budget"] == b}
            u = {r["seed"]: 100 * r["test_accuracy"] for r in results
                 if r["pool"] == pool and r["strategy"] == "uniform" and r["budget"] == b and r["seed"] in m}
            paired = [m[k] - u[k] for k in m if k in u]
            ok = checks[pool]["at_least_uniform_minus_se"].get(b) if pool in checks else None
            mark = "" if ok is None else " ✓" if ok else " ✗"
            diff = ("+" if paired and round(np.mean(paired), 1) >= 0 else "") + _cell(paired)
            cells += [_cell(list(u.values())), _cell(list(m.values())), diff + mark]
        share = checks[pool]["share_to_reach_uniform_max"] if pool in checks else float("nan")
        reach = "not reached" if not np.isfinite(share) else f"{share:.2f} of them"
        lines.append(f"| `{pool}` | " + " | ".join(cells) + f" | {reach} |")
    noisy = []
    for pool in pools:
        rate = POOLS[pool].pathologies.noise
        if not rate:
            continue
        shares = {s: [x for r in results if r["pool"] == pool and r["strategy"] == s
                      if (x := late_noisy_share(r)) is not None] for s in ("uniform", strategy)}
        if shares[strategy]:
            noisy.append(f"`{pool}` {np.mean(shares[strategy]):.0%} (pool {rate:.0%})")
    if noisy:
        lines += ["", f"Wrong answers among the rows {labels.get(strategy, strategy)} trained on after the first fifth "
                      f"of training: {'; '.join(noisy)}."]
    return "\n".join(lines)


def pools_table() -> str:
    """The pools of the protocol as a Markdown table: name, role, rows (x the size's pool), what it has."""
    lines = ["| pool | role | rows | what it has |", "|---|---|---:|---|"]
    for name, pool in POOLS.items():
        lines.append(f"| `{name}` | {pool.role} | x{pool.scale:g} | {pool.describe()} |")
    return "\n".join(lines)


def comparison_table(results: list[dict[str, Any]], strategies: list[str], pools: list[str], seed: int | None = None
                     ) -> str:
    """Each strategy's difference to uniform (test exact match points, paired by seed, mean over the seeds present;
    only `seed` if given) per pool and budget, `8k / 16k` in one cell, and its mean over the cells."""
    labels = _labels()
    runs = [r for r in results if seed is None or r["seed"] == seed]
    budgets = sorted({r["budget"] for r in runs if r["pool"] in pools and r["strategy"] in strategies})
    head = " / ".join(f"{b // 1000}k" for b in budgets)
    lines = ["| strategy | " + " | ".join(f"`{p}` ({head})" for p in pools) + " | mean |",
             "|---|" + "---:|" * (len(pools) + 1)]
    for s in strategies:
        cells, all_diffs = [], []
        for p in pools:
            parts = []
            for b in budgets:
                base = {r["seed"]: r["test_accuracy"] for r in runs
                        if r["strategy"] == "uniform" and r["pool"] == p and r["budget"] == b}
                diffs = [100 * (r["test_accuracy"] - base[r["seed"]]) for r in runs
                         if r["strategy"] == s and r["pool"] == p and r["budget"] == b and r["seed"] in base]
                parts.append(f"{np.mean(diffs):+.1f}" if diffs else "-")
                all_diffs += [float(np.mean(diffs))] if diffs else []
            cells.append(" / ".join(parts))
        mean = f"{np.mean(all_diffs):+.1f}" if all_diffs else "-"
        lines.append(f"| {labels.get(s, s)} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(lines)
