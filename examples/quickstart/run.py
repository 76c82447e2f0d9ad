"""Run the quickstart pipeline on the active stack and show what was recorded.

    python examples/quickstart/run.py            # first run: every step executes
    python examples/quickstart/run.py            # again: every step comes from the cache
    python examples/quickstart/run.py --C 0.1    # a new parameter: train and evaluate rerun

The default stack keeps the metadata in a SQLite file and the artifacts in a
directory under ~/.config/zen-mlmd (or $ZEN_MLMD_CONFIG_DIR).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline import iris_training  # noqa: E402

import zen_mlmd  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularization strength")
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--no-cache", action="store_true", help="run every step")
    args = parser.parse_args()

    stack = zen_mlmd.get_active_stack()
    run = iris_training.run(C=args.C, test_fraction=args.test_fraction,
                            enable_cache=False if args.no_cache else None)

    print(f"\nRun {run.name!r} of pipeline {run.pipeline_name!r}: {run.status}")
    print(f"  metadata store: {stack.metadata_store.target()}")
    print(f"  artifact store: {stack.artifact_store.path}\n")
    print(f"{'STEP':<12}{'STATUS':<11}{'PARAMETERS':<34}OUTPUTS")
    for step in run.steps:
        params = ", ".join(f"{k}={v}" for k, v in step.parameters.items()) or "-"
        outputs = ", ".join(f"{name} (#{artifact.id} {artifact.type})"
                            for name, artifact in step.outputs.items())
        print(f"{step.name:<12}{step.status:<11}{params:<34}{outputs}")

    metrics = run.steps["evaluate"].outputs["metrics"].read()
    print("\nMetrics:", ", ".join(f"{k}={v:.3f}" for k, v in metrics.items()))
    print("\nStored artifacts:")
    for step in run.steps:
        for name, artifact in step.outputs.items():
            print(f"  {step.name}.{name}: {artifact.uri}")

    model = run.steps["train"].outputs["model"]
    print(f"\nMore: zen-mlmd run describe {run.name}\n"
          f"      zen-mlmd cache explain {run.name}\n"
          f"      zen-mlmd artifact lineage {model.id} --format svg --output lineage.svg")
    print(f"\nLineage of the model (artifact #{model.id}):")
    print(model.lineage(direction="upstream").to_text(), end="")


if __name__ == "__main__":
    main()
