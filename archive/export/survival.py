"""The survival data (archive.analysis.survival) as CSV: ``memoryhole export survival``.

RFC 4180 quoting, UTF-8 without a BOM, a header row of ``COLUMNS``; None is an empty cell (so an
empty ``interval_high_s`` is +infinity: right-censored); seconds are numbers with at most three
decimals; text that starts like a spreadsheet formula is neutralised
(archive.export.formats.csv_cell). Written to a temporary file and renamed, so ``OUT`` is whole
or untouched; rows are streamed, never held.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Any

from archive.analysis.survival import COLUMNS, SurvivalFilter, survival_rows
from archive.export.formats import csv_cell


def export_survival_csv(db: Any, out: Path, flt: SurvivalFilter | None = None) -> int:
    """Write the survival rows matching ``flt`` to ``out``; returns how many."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".csv.tmp", dir=out.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for row in survival_rows(db, flt):
                values = row.as_dict()
                writer.writerow([csv_cell(values[name]) for name in COLUMNS])
                count += 1
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
