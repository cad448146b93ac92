"""Item pipelines: the catalogue (text, diffs and rows are made in the archive writer process)."""
