"""Reading a recipe: YAML → typed dataclasses (unknown keys, wrong types and
out-of-range values are errors), ``--set`` overrides, and writing configs back."""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from asr.config.checks import check_range
from asr.config.schema import Config
from asr.core.atomic import atomic_write_text
from asr.core.errors import ConfigError, first_line


def _check_value(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against the type hint ``hint``, converting int→float."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_value(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)
        return [_check_value(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (type(value) is not hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def from_dict(cls: type, data: Any, where: str = "config") -> Any:
    """Build dataclass ``cls`` from a plain dict, refusing unknown keys.

    Args:
        cls: a dataclass type of this module.
        data: the mapping read from YAML (or None for all defaults).
        where: dotted path used in error messages.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        prefix = "" if where == "config" else f"{where}."
        key = str(unknown[0])
        key = key if key.isprintable() and key.strip() == key and key else repr(key)  # one readable line
        raise ConfigError(f"unknown config key {prefix}{key} (known: {', '.join(sorted(names))})")
    prefix = "" if where == "config" else f"{where}."
    kwargs = {k: _check_value(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    for key, value in kwargs.items():
        check_range(value, f"{prefix}{key}")
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict:
    """A dataclass as plain data, ready for YAML or JSON."""
    return dataclasses.asdict(cfg)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` strings to a plain config dict (values parsed as YAML scalars)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: value is not valid YAML") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if node.get(part) is None:  # absent, or left empty in the YAML
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
        node[parts[-1]] = value
    return data


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML recipe (or the defaults when ``path`` is None) and apply overrides.

    Args:
        path: a YAML file holding plain data.
        overrides: ``section.key=value`` strings, applied after the file.
    """
    data: dict = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config ({exc})") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            first = first_line(exc, "invalid YAML")
            raise ConfigError(f"{path}: not plain YAML data ({first})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
    data = apply_overrides(data, overrides or [])
    try:
        return from_dict(Config, data)
    except ConfigError as exc:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{exc}") from None


def save_config(cfg: Config, path: str | os.PathLike) -> None:
    """Write the config a run used, as YAML."""
    atomic_write_text(Path(path), yaml.safe_dump(to_dict(cfg), sort_keys=False))


def save_json(section: Any, path: str | os.PathLike) -> None:
    """Write one config section as indented JSON (a run's or the feature cache's ``features.json``)."""
    atomic_write_text(Path(path), json.dumps(to_dict(section), indent=2))
