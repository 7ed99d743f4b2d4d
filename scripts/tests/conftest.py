"""Tests of the repository scripts: ``cd scripts && ../.venv/bin/python -m pytest -q tests`` (make check)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
