"""Item pipelines: page text, then the catalogue (diffs run in the archive sink)."""
