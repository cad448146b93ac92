"""Detection rules as data, one TOML file per platform (read by :mod:`archive.classify_rules`)."""
