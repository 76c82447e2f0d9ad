"""Kubeflow Pipelines (v2) adapter for zen_mlmd.

* `zen_mlmd_kfp.convention`: the `kfp` convention (entry point
  ``zen_mlmd.conventions``), to read runs Kubeflow Pipelines wrote into MLMD
  and to record zen_mlmd runs in the same schema;
* `zen_mlmd_kfp.orchestrator`: compile a zen_mlmd pipeline into a KFP v2
  pipeline, run it on a KFP endpoint or locally through `kfp.local`;
* `zen_mlmd_kfp.artifact_types`: zen_mlmd artifact kinds <-> KFP artifact classes.

Importing this package imports neither kfp nor ml-metadata.
"""
__version__ = "0.1.0"
