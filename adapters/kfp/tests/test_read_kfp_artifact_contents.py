"""Reading the contents of artifacts Kubeflow Pipelines wrote (no zen_mlmd materializer).

The store follows KFP's driver and launcher call by call (`kfp_v2_runs`). A
`system.Metrics` artifact holds its values in custom properties, as KFP's
UI reads them (kubeflow/pipelines frontend/src/components/viewers/
MetricsVisualizations.tsx); any other KFP artifact is in a format zen_mlmd
does not know, and reading it says who wrote it and where its files are.
"""
from __future__ import annotations

import pytest

from zen_mlmd.errors import MaterializerError
from zen_mlmd.post_execution import get_run

from kfp_v2_runs import ROOT, RUN_1


@pytest.fixture
def train(kfp_v2_runs):
    store, _, _ = kfp_v2_runs
    return get_run(RUN_1, store=store).steps["for-loop-2[1]/train"]


def test_kfp_metrics_are_read_from_their_properties(train):
    metrics = train.outputs["metrics"]
    assert metrics.materializer == ""
    assert metrics.read() == {"accuracy": 0.91, "epochs": 3.0}  # KFP writes numbers as doubles


def test_other_kfp_artifacts_are_refused_with_their_writer_and_place(train):
    model = train.outputs["model"]
    with pytest.raises(MaterializerError) as caught:
        model.read(trusted=True)
    message = str(caught.value)
    assert f"written by Kubeflow Pipelines (step 'for-loop-2[1]/train' of run '{RUN_1}')" in message
    assert model.uri.startswith(ROOT) and model.uri in message
    assert "not by a zen_mlmd materializer" in message and "Fix: " in message
