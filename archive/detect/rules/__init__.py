"""Detection rules as data, one TOML file per platform (read by :mod:`archive.detect.ruleset`)."""
