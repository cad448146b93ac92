"""What every ``memoryhole`` command shares: the home, the config (loaded when first asked
for), the catalogue, and the exit-2 error for bad usage or config. Its own module so that the
command modules can use it without importing each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from archive.catalogue import db as catalogue
from archive.config import Config, load_config
from archive.config_file import ConfigError
from archive.home import Home


class BadConfig(click.ClickException):
    """Bad config or usage: exit 2 with one line."""

    exit_code = 2


class Context:
    def __init__(self, home: Home, config_path: Path, explicit_config: bool) -> None:
        self.home = home
        self.config_path = config_path
        self.explicit_config = explicit_config
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self.config_path, required=self.explicit_config)
            except ConfigError as exc:
                raise BadConfig(str(exc)) from None
        return self._config

    def catalogue(self, *, must_exist: bool = True) -> Any:
        try:
            if must_exist:
                return catalogue.open_existing(self.home.db_path)
            return catalogue.open_catalogue(self.home.db_path)
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from None


pass_ctx = click.make_pass_decorator(Context)
