"""Reading the contents of artifacts Kubeflow Pipelines wrote (no zen_mlmd materializer).

The store follows KFP's launcher call by call (`kfp_written_store`). A
`system.Metrics` artifact holds its values in custom properties, as KFP's
UI reads them (kubeflow/pipelines frontend/src/components/viewers/
MetricsVisualizations.tsx); any other KFP artifact is in a format zen_mlmd
does not know, and reading it says who wrote it and where its files are.
"""
from __future__ import annotations

import pytest

from zen_mlmd.errors import MaterializerError
from zen_mlmd.post_execution import get_run

from kfp_written_store import ROOT, RUN_ID, write_kfp_run


@pytest.fixture
def kfp_run(memory_store):
    write_kfp_run(memory_store.raw)
    return get_run(RUN_ID, store=memory_store)


def test_kfp_metrics_are_read_from_their_properties(kfp_run):
    metrics = kfp_run.get_step("evaluate").outputs["metrics"]
    assert metrics.materializer == ""
    assert metrics.read() == {"accuracy": 0.93, "f1": 0.91}


def test_other_kfp_artifacts_are_refused_with_their_writer_and_place(kfp_run):
    train = kfp_run.get_step("train")
    [(name, model)] = train.outputs.items()
    with pytest.raises(MaterializerError) as caught:
        model.read(trusted=True)
    message = str(caught.value)
    assert f"written by Kubeflow Pipelines (step 'train' of run '{RUN_ID}')" in message
    assert model.uri.startswith(ROOT) and model.uri in message
    assert "not by a zen_mlmd materializer" in message and "Fix: " in message
