"""Write `docs/module-map.md`: one line per module of the package and what it owns (its docstring's first lines)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Source folders and the import names they are installed under (pyproject.toml's package-dir).
SOURCES = {"curriculum": "curriculum", "callbacks": "curriculum.callbacks", "samplers": "curriculum.samplers"}
HEADER = """# Module map

One line per module: what it owns (its docstring's first line). Written by
`python scripts/module_map.py`; a test checks that it is current.

A row's sampling weight is `mix(uniform, kernel(difficulty - target) x product of the factors)`. A new factor
is one module under `curriculum/factors/` implementing `Factor` (`build`, and whichever of `observe`,
`row_factor`, `shares`, `drawable`, `metrics`, `state_dict` / `load_state_dict`, `set_refresh_steps` it uses;
the revisit penalty, `curriculum/factors/revisit.py`, is under 40 lines) and one line in `FACTORS`
(`curriculum/factors/__init__.py`).

| module | what it owns |
|---|---|
"""


def module_map() -> str:
    rows = []
    for folder, package in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            name = ".".join([package, *parts])
            doc = (ast.get_docstring(ast.parse(path.read_text())) or "").strip().splitlines()
            summary = " ".join(doc[: next((i for i, line in enumerate(doc) if not line.strip()), len(doc))])
            rows.append(f"| `{name}` | {summary.replace('|', '/')} |")
    return HEADER + "\n".join(rows) + "\n"


def main() -> int:
    out = ROOT / "docs" / "module-map.md"
    out.write_text(module_map())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
