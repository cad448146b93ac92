"""The home folder: where everything memoryhole keeps lives (DESIGN.md "Storage").

``--home DIR``, else ``$MEMORYHOLE_HOME``, else ``./memoryhole-data``. The collections layout is
pywb's own, so ``wayback`` started in the home replays it unchanged::

    HOME/memoryhole.toml
    HOME/memoryhole.db
    HOME/collections/<coll>/archive/*.warc.gz
    HOME/collections/<coll>/indexes/index.cdxj
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = "memoryhole-data"
HOME_ENV = "MEMORYHOLE_HOME"
CONFIG_NAME = "memoryhole.toml"
DB_NAME = "memoryhole.db"
INDEX_NAME = "index.cdxj"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The home folder from an explicit value, ``$MEMORYHOLE_HOME`` or the default."""
    chosen = home if home else os.environ.get(HOME_ENV) or DEFAULT_HOME
    return Path(chosen).expanduser().absolute()


@dataclass(frozen=True)
class Home:
    """Paths inside one home folder. Creating the object touches nothing on disk."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def collections_dir(self) -> Path:
        return self.root / "collections"

    def archive_dir(self, collection: str) -> Path:
        return self.collections_dir / collection / "archive"

    def indexes_dir(self, collection: str) -> Path:
        return self.collections_dir / collection / "indexes"

    def index_path(self, collection: str) -> Path:
        return self.indexes_dir(collection) / INDEX_NAME

    def collections(self) -> list[str]:
        """Names of the collections that exist on disk, sorted."""
        if not self.collections_dir.is_dir():
            return []
        return sorted(p.name for p in self.collections_dir.iterdir() if (p / "archive").is_dir())

    def ensure(self, collection: str) -> None:
        """Create the home and one collection's folders."""
        self.archive_dir(collection).mkdir(parents=True, exist_ok=True)
        self.indexes_dir(collection).mkdir(parents=True, exist_ok=True)
