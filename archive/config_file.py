"""The TOML files' reading and typed access (the config, archive.config; the seed files,
archive.seeds): errors of one line naming the file, the key and the fix, never a secret's value.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from archive.timeutil import parse_age


class ConfigError(ValueError):
    """A config or seed file is wrong. ``str(error)`` is the one line to show the user."""


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; check the path") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}; fix the syntax there") from None


# Keys whose values may hold a password or a token (a proxy's credentials, a notification
# service's token in its URL's path, Redis's password): an error about them never shows the value.
SECRET_KEYS = frozenset({"notify.urls", "vantage.proxy", "cluster.redis"})


class Section:
    """Typed access to one table of a TOML file, with errors naming file and key (never the
    value of a key in :data:`SECRET_KEYS`)."""

    def __init__(self, path: Path, prefix: str, data: Any) -> None:
        self.path, self.prefix = path, prefix
        if not isinstance(data, dict):
            self.fail("", "must be a table", f"write it as [{prefix.rstrip('.')}]")
        self.data: dict[str, Any] = data

    def fail(self, key: str, problem: str, fix: str) -> None:
        where = f"{self.prefix}{key}" or "file"
        raise ConfigError(f"{self.path}: {where}: {problem}; {fix}")

    def shown(self, key: str, value: Any) -> str:
        """``value`` as an error may show it: ``repr``, or nothing for a secret-bearing key."""
        if re.sub(r"\[\d+\]", "", self.prefix) + key in SECRET_KEYS:
            return "a value not shown here (it may hold a password or a token)"
        return repr(value)

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                self.fail(key, "unknown key", f"use one of: {', '.join(sorted(allowed))}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in self.data:
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind is not bool:
            self.fail(key, f"expected {_kind_name(kind)}, got a boolean", "change the value")
        if not isinstance(value, kind):
            self.fail(key, f"expected {_kind_name(kind)}, got {self.shown(key, value)}",
                      "change the value")
        return value

    def positive(self, key: str, kind: type, default: Any) -> Any:
        value = self.get(key, kind, default)
        if value <= 0:
            self.fail(key, f"must be greater than 0, got {value}", "use a positive number")
        return value

    def choice(self, key: str, choices: tuple[str, ...] | list[str], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            self.fail(key, f"unknown value {self.shown(key, value)}",
                      "use one of " + ", ".join(f'"{name}"' for name in choices))
        return value

    def duration(self, key: str, default: str) -> str:
        value = self.get(key, str, default)
        try:
            parse_age(value)
        except ValueError:
            self.fail(key, f"not a duration: {self.shown(key, value)}",
                      "write it like 30s, 5m, 2h or 7d")
        return value

    def durations(self, key: str, default: tuple[str, ...] | None) -> tuple[str, ...] | None:
        value = self.get(key, list, None)
        if value is None:
            return default
        for item in value:
            if not isinstance(item, str):
                self.fail(key, f"expected durations like \"5m\", got {item!r}", "quote each one")
            try:
                parse_age(item)
            except ValueError:
                self.fail(key, f"not a duration: {item!r}", "write it like 30s, 5m, 2h or 7d")
        if not value:
            self.fail(key, "is empty", "list at least one offset, e.g. [\"5m\", \"1h\"]")
        return tuple(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key, list, [])
        for item in value:
            if not isinstance(item, str):
                self.fail(key, f"expected a list of strings, got {self.shown(key, item)}",
                          "quote each item")
        return tuple(value)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in (kind if isinstance(kind, tuple)
                                                           else (kind,)))
