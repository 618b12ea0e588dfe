"""The `curriculum` command line: `validate` a YAML config, print the `schema`."""

from __future__ import annotations

import argparse
import sys

from .config import ConfigError, CurriculumConfig, schema_markdown

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="curriculum", description="Online curriculum for the Hugging Face Trainer.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a curriculum YAML file and print the resolved settings")
    validate.add_argument("config", help="path to a curriculum YAML file")
    commands.add_parser("schema", help="print the YAML schema as a Markdown table")
    args = parser.parse_args(argv)

    if args.command == "schema":
        print(schema_markdown())
        return 0
    try:
        config = CurriculumConfig.from_yaml(args.config)
    except (ConfigError, OSError) as err:
        print(f"curriculum: error: {err}", file=sys.stderr)
        return 2
    print(f"{args.config}: valid\n---")
    print(config.to_yaml(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
