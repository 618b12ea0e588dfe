"""Config fields: declared with their help and checks, coerced and validated one by one, tabled as a schema."""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
from dataclasses import field
from typing import Any

import yaml

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A curriculum setting is invalid. The message names the key, the value and what is allowed."""


class UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key given twice in one mapping (PyYAML would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may be overridden by explicit keys
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = lines.get(key)
            except TypeError:  # an unhashable key: the base constructor reports it
                continue
            if first is not None:
                raise ConfigError(
                    f"the key {key!r} is given twice (line {first} and line {line}); YAML would keep only the last "
                    "value: remove one of them"
                )
            lines[key] = line
        return super().construct_mapping(node, deep=deep)


def config_field(default: Any, help: str, **checks: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **checks})
    return field(default=default, metadata={"help": help, **checks})



def closest(key: str, known: set[str]) -> str | None:
    match = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return match[0] if match else None


_ARTICLE = {
    "float": "a number",
    "int": "an integer",
    "str": "a string",
    "bool": "true or false",
    "list[float]": "a list of numbers",
}


def _type_name(annotation: str) -> tuple[str, bool]:
    optional = "None" in annotation
    base = annotation.replace(" | None", "").replace("None | ", "")
    return base, optional


def check_field(f: dataclasses.Field, value: Any) -> Any:
    """Coerce and validate one field; YAML strings such as "1e-4" are accepted for numbers."""
    base, optional = _type_name(str(f.type))
    meta = f.metadata
    key = f.name
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key} should be {_ARTICLE.get(base, base)}, but got {key}=None")
    if base == "float":
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{key} should be a number, but got {key}={value!r}") from None
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ConfigError(f"{key} should be a finite number, but got {key}={value!r}")
        value = float(value)
    elif base == "int":
        original = value
        if isinstance(value, str):  # YAML reads `1e6` as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{key} should be an integer, but got {key}={original!r}") from None
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
            if not (math.isfinite(value) and float(value).is_integer()):
                raise ConfigError(f"{key} should be an integer, but got {key}={original!r}")
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ConfigError(f"{key} should be an integer, but got {key}={original!r}")
        value = int(value)
    elif base == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{key} should be true or false, but got {key}={value!r}")
        return value
    elif base == "str":
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key} should be a non-empty string, but got {key}={value!r}")
        if "choices" in meta and value not in meta["choices"]:
            raise ConfigError(f"{key} should be one of {list(meta['choices'])}, but got {key}={value!r}")
    elif base == "list[float]":
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} should be a list of numbers, but got {key}={value!r}")
        out = []
        for item in value:
            try:
                if isinstance(item, bool):
                    raise ValueError
                out.append(float(item))
            except (TypeError, ValueError):
                raise ConfigError(f"{key} should be a list of numbers, but got {key}={value!r}") from None
        return out
    elif base == "list[str]":
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{key} should be a list of names, but got {key}={value!r}")
        wrong = [item for item in value if "choices" in meta and item not in meta["choices"]]
        if wrong:
            raise ConfigError(f"{key} should list names among {list(meta['choices'])}, but got {wrong!r} in {key}")
        return list(value)
    if "min" in meta and value < meta["min"]:
        raise ConfigError(f"{key} should be >= {meta['min']}, but got {key}={value!r}")
    if "max" in meta and value > meta["max"]:
        raise ConfigError(f"{key} should be <= {meta['max']}, but got {key}={value!r}")
    if "min_exclusive" in meta and value <= meta["min_exclusive"]:
        raise ConfigError(f"{key} should be > {meta['min_exclusive']}, but got {key}={value!r}")
    if "max_exclusive" in meta and value >= meta["max_exclusive"]:
        raise ConfigError(f"{key} should be < {meta['max_exclusive']}, but got {key}={value!r}")
    return value


def schema_table(cls: type) -> str:
    """The fields of the dataclass `cls` as a Markdown table (key, type, default, allowed, meaning)."""
    rows = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        meta = f.metadata
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        allowed = []
        if "choices" in meta:
            allowed.append(", ".join(f"`{c}`" for c in meta["choices"]))
        for name, sym in (("min", ">="), ("min_exclusive", ">"), ("max", "<="), ("max_exclusive", "<")):
            if name in meta:
                allowed.append(f"{sym} {meta[name]}")
        rows.append(
            f"| `{f.name}` | `{str(f.type).replace('|', chr(92) + '|')}` | `{default}` | {'; '.join(allowed) or '-'} | {meta['help']} |"
        )
    return "\n".join(rows)


def yaml_section(path: str | os.PathLike, keys: set[str]) -> tuple[Any, list[str]]:
    """The curriculum's part of a YAML file and the file's other top-level keys: with a top-level `curriculum:`
    mapping, that mapping and the keys beside it (refusing any of the curriculum's `keys` but `seed` there);
    otherwise the whole file and no other key."""
    with open(path, encoding="utf-8") as fh:
        try:
            data = yaml.load(fh, Loader=UniqueKeyLoader)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None
    if data is None:
        return {}, []
    if isinstance(data, dict) and isinstance(data.get("curriculum", False), (dict, type(None))):
        others = [str(key) for key in data if key != "curriculum"]
        # `seed` is a training argument too; any other curriculum key beside the section is a misplaced one.
        stray = [key for key in others if key in keys - {"seed"}]
        if stray:
            raise ConfigError(
                f"{path}: {stray} sit beside the `curriculum:` section, outside it, where the training script reads "
                "its own keys; move them into the `curriculum:` section"
            )
        return data["curriculum"] or {}, others
    return data, []


def check_keys(values: Any, known: set[str]) -> None:
    """Refuse a config that is not a mapping of `known` names, suggesting the closest name for a misspelt one."""
    if not isinstance(values, dict):
        raise ConfigError(f"a curriculum config should be a mapping of keys to values, but got {values!r}")
    not_text = [k for k in values if not isinstance(k, str)]
    if not_text:
        raise ConfigError(
            f"curriculum keys should be names, but got the key(s) {not_text!r} (YAML reads `on`, `yes`, `null` "
            f"and numbers as non-strings); allowed keys are {sorted(known)}"
        )
    unknown = sorted(set(values) - known)
    if unknown:
        hints = [f"{k!r} (did you mean {closest(k, known)!r}?)" if closest(k, known) else repr(k) for k in unknown]
        raise ConfigError(f"unknown curriculum key(s) {', '.join(hints)}; allowed keys are {sorted(known)}")
