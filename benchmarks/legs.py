"""The same workload three ways: zen_mlmd, raw MLMD (the physical limit) and MLflow.

The workload (`benchmarks.workload`) is a linear pipeline of S steps. Step i
has five parameters, consumes step i-1's two outputs (``in_a``, ``in_b``) and
produces two small JSON outputs (``a``, ``b``). Every leg writes the same
bytes to one file per output (``<root>/<pipeline>/<run>/<step>/<output>/data.json``).

Each leg lives in a module of its own: `benchmarks.leg_zen`,
`benchmarks.leg_raw` and `benchmarks.leg_mlflow`; this module gathers them.
"""
from benchmarks.leg_mlflow import MlflowLeg
from benchmarks.leg_raw import RawLeg
from benchmarks.leg_zen import ZenLeg

__all__ = ["MlflowLeg", "RawLeg", "ZenLeg"]
