"""Registers the TFX-shaped store fixtures (defined in tfx_fixtures.py)."""
import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from tfx_fixtures import legacy_store, portable_store  # noqa: E402,F401
