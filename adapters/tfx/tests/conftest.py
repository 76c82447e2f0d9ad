"""Registers the store fixtures: TFX-shaped (tfx_fixtures.py) and written by TFX (real_tfx.py)."""
import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from tfx_fixtures import legacy_store, portable_store  # noqa: E402,F401
from real_tfx import tfx_store  # noqa: E402,F401

collect_ignore = ["tfx_runs"]  # run by TFX in its own environment, not by pytest
