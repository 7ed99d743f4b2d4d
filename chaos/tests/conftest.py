"""Tests of the chaos suite's own bookkeeping: ``cd chaos && ../.venv/bin/python -m pytest -q tests``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "e2e"))
