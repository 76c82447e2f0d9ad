"""Native runs for the web view's tests: three training runs, and a run whose outputs cover every preview."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from post_execution_helpers import LocalTestStack, record_training
from ui_helpers import register_store, ui_client

#: The web view is tested on the embedded default and on the production backend.
UI_BACKENDS = ["sqlite", "mysql"]


@dataclass
class NativeRuns:
    """Three training runs: C=1.0, C=2.0, then C=2.0 again (every step served from the cache)."""

    names: list[str]
    store_name: str
    artifact_root: Path
    client: object
    opener: object


@pytest.fixture
def native_runs(metadata_store, backend, tmp_path) -> NativeRuns:
    artifact_root = tmp_path / "artifacts"
    stack = LocalTestStack(metadata_store, artifact_root)
    names = [record_training(stack, C=1.0), record_training(stack, C=2.0), record_training(stack, C=2.0)]
    store_name = register_store(backend, "ui", artifact_root)
    client, opener = ui_client(store_name)
    return NativeRuns(names, store_name, artifact_root, client, opener)


class Unpickled:
    """Loading a pickle of this writes `path`: proof that something unpickled it."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


#: A 1x1 PNG.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360f8cfc0f01f0005000201a5d5a1f30000000049454e44ae426082")


@dataclass
class Showcase:
    """One run whose outputs cover every preview, a failed step and a secret parameter."""

    run: str
    artifacts: dict  # output name -> artifact id
    marker: Path     # written if anything unpickles the pickle output
    store_name: str
    client: object
    opener: object


def record_showcase(store, artifact_root: Path, tmp_path: Path) -> tuple[str, dict, Path]:
    import numpy
    import pandas

    from zen_mlmd.artifacts import ArtifactStore
    from zen_mlmd.mlmd.records import OutputArtifact
    from zen_mlmd.tracking.recorder import Recorder

    artifacts = ArtifactStore(str(artifact_root))
    marker = tmp_path / "unpickled-marker"
    ids: dict = {}
    with Recorder(store, artifacts).start_run("showcase", "showcase-1") as run:
        step = run.start_step("make", "tests.make", parameters={"rows": 3, "api_token": "s3cr3t-token-value"})
        step.save_output("table", pandas.DataFrame({"city": ["Oslo", "Lima", "Pune"], "temp": [4.5, 19.0, 31.25]}))
        step.save_output("notes", "first line\nsecond line")
        step.save_output("scores", {"accuracy": 0.93, "loss": 0.07}, kind="metrics")
        step.save_output("weights", numpy.arange(12, dtype="float32").reshape(3, 4))
        step.save_output("estimator", Unpickled(str(marker)))
        step.save_output("gone", {"will": "be deleted"})
        plot = step.output_uri("plot")
        artifacts.makedirs(plot)
        with artifacts.open(f"{plot}/plot.png", "wb") as f:
            f.write(PNG)
        rows = step.output_uri("rows")
        artifacts.makedirs(rows)
        with artifacts.open(f"{rows}/rows.csv", "w") as f:
            f.write("id,label\n1,cat\n2,dog\n")
        elsewhere = tmp_path / "elsewhere" / "secret-place"
        elsewhere.mkdir(parents=True)
        (elsewhere / "data.txt").write_text("must not be shown")
        outputs = {name: outs for name, outs in step.saved_outputs.items()}
        outputs["plot"] = [OutputArtifact(uri=plot, kind="DATA", materializer="", data_type="image/png")]
        outputs["rows"] = [OutputArtifact(uri=rows, kind="DATASET", materializer="", data_type="text/csv")]
        outputs["outside"] = [OutputArtifact(uri=str(elsewhere), kind="DATA", materializer="builtins.str",
                                             data_type="builtins.str")]
        published = step.publish(outputs)
        ids.update({name: values[0] for name, values in published.items()})
        broken = run.start_step("check", "tests.check", inputs={"table": ids["table"]})
        try:
            raise ValueError("3 rows have no label")
        except ValueError as error:
            broken.fail(error)
    artifacts.delete(artifacts.uri_for("showcase", "showcase-1", "make", "gone"))
    return "showcase-1", ids, marker


@pytest.fixture
def showcase(metadata_store, backend, tmp_path) -> Showcase:
    artifact_root = tmp_path / "artifacts"
    name, ids, marker = record_showcase(metadata_store, artifact_root, tmp_path)
    store_name = register_store(backend, "ui", artifact_root)
    client, opener = ui_client(store_name)
    return Showcase(name, ids, marker, store_name, client, opener)
