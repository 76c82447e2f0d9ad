"""Recording and query benchmarks of zen_mlmd, side by side with raw MLMD and MLflow.

Not part of the test suite. Run one backend at a time::

    bash scripts/benchmark.sh sqlite

See benchmarks/README.md.
"""
