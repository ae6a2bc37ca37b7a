"""Helpers shared by the tests (importable as `support.*`: pytest puts tests/ on sys.path)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
