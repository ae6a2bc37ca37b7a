"""Helpers the sweep benchmarks share: run a plan quietly, read back its epoch rows."""

from __future__ import annotations

import json
from pathlib import Path


def epoch_rows(experiment: Path) -> list[dict]:
    """Every reported epoch of every trial, in the order they were reported."""
    rows = []
    for result in sorted(experiment.glob("*/result.json")):
        for line in result.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                row["trial"] = result.parent.name
                rows.append(row)
    return sorted(rows, key=lambda row: (row["timestamp"], row["time_total_s"]))
