"""Which rules run, with what thresholds: from caffelog.toml / pyproject.toml and the command line."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from caffelog.errors import UsageError

FAIL_ON = ("error", "warning", "info", "never")


@dataclass
class Settings:
    """Which rules run and with what thresholds; from config files and the command line."""

    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    fail_on: str = "error"

    def __post_init__(self) -> None:
        if self.fail_on is not None and self.fail_on not in FAIL_ON:
            raise UsageError(f"fail-on {self.fail_on!r}: expected one of {', '.join(FAIL_ON)}")

    def merged(self, other: Settings) -> Settings:
        """other (the command line) wins over self (the config file)."""
        thresholds = {k: dict(v) for k, v in self.thresholds.items()}
        for rule, values in other.thresholds.items():
            thresholds.setdefault(rule, {}).update(values)
        return Settings(other.select or self.select, self.ignore + other.ignore, thresholds,
                        other.fail_on or self.fail_on)


def parse_threshold(text: str) -> tuple[str, str, float]:
    """'exploding.value=1e9' -> ('exploding', 'value', 1e9)."""
    try:
        key, value = text.split("=", 1)
        rule, name = key.strip().rsplit(".", 1)
        return rule, name, float(value)
    except ValueError:
        raise UsageError(f"--threshold {text!r}: expected RULE.NAME=NUMBER, "
                         "e.g. exploding.value=1e9") from None


def load_settings(log_path: str | None) -> Settings:
    """[tool.caffelog] in a pyproject.toml, or a caffelog.toml, next to the log."""
    if not log_path or log_path == "-":
        return Settings()
    folder = Path(log_path).resolve().parent
    for name, table in (("caffelog.toml", None), ("pyproject.toml", ("tool", "caffelog"))):
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: {exc}") from None
        for key in table or ():
            data = data.get(key, {})
        if data:
            return _settings_from(data, path)
    return Settings()


def _settings_from(data: dict, path: Path) -> Settings:
    thresholds: dict[str, dict[str, float]] = {}
    for rule, values in (data.get("thresholds") or {}).items():
        if not isinstance(values, dict):
            raise UsageError(f"{path}: thresholds.{rule} must be a table of NAME = NUMBER")
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(f"{path}: thresholds.{rule}.{name} = {value!r} is not a number")
        thresholds[rule] = {k: float(v) for k, v in values.items()}
    lists = {key: data.get(key, []) for key in ("select", "ignore")}
    for key, value in lists.items():
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise UsageError(f"{path}: {key} must be a list of rule names")
    fail_on = data.get("fail-on", data.get("fail_on", "error"))
    if fail_on not in FAIL_ON:
        raise UsageError(f"{path}: fail-on = {fail_on!r}: expected one of {', '.join(FAIL_ON)}")
    return Settings(list(lists["select"]), list(lists["ignore"]), thresholds, fail_on)
