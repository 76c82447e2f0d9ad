"""A submitted pipeline run the way a Kubeflow cluster runs it, without Kubernetes.

No Kubernetes cluster can run here: `played_cluster` plays KFP's backend
(driver, launcher, Argo's ordering) call by call, following its Go code,
and runs each task as a process of its own in a fresh virtual environment
holding only what the compiled package installs (`task_venv`), with only
the environment a KFP pod gets. The metadata service is zen_mlmd's MLMD
gRPC server (the one `zen-mlmd metadata-store serve` runs), started as
`python -m zen_mlmd.server` over the test MariaDB; the object store is
moto's S3 server, reached through s3fs. The tasks share no file system path:
their outputs move through S3.
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from backends import GrpcServer, connection_config, mysql_spec, unique_database_name
from zen_mlmd.stack.components import ArtifactStoreComponent, MetadataStoreComponent, OrchestratorComponent
from zen_mlmd.stack.stack import Stack
from zen_mlmd_kfp.flavor import KubeflowOrchestratorConfig
from zen_mlmd_kfp.orchestrator import KubeflowOrchestrator

from kfp_ui_view import view_run
from played_cluster import PlayedCluster
from s3_server import CREDENTIALS, S3Server
from task_venv import PLAYED_PIPELINE, build_wheels, requirements_of, task_venv

BUCKET = "played-bucket"
ARTIFACTS = f"s3://{BUCKET}/zen"
SECRET = "zen-mlmd"
HEARTBEAT_SEC = 1.0
STALE_AFTER_SEC = 8.0

sys.path.insert(0, str(PLAYED_PIPELINE))
from played_pipeline import exploding, lingering, played  # noqa: E402


@pytest.fixture(scope="module")
def services(tmp_path_factory, database_janitor):
    """(S3 server, MLMD gRPC server over a fresh MariaDB database)."""
    workdir = tmp_path_factory.mktemp("played-services")
    database = unique_database_name()
    database_janitor.mysql.append(database)
    with S3Server(workdir / "s3") as s3, GrpcServer(connection_config(mysql_spec(database)),
                                                      workdir / "mlmd") as mlmd:
        s3.create_bucket(BUCKET)
        yield s3, mlmd


@pytest.fixture(scope="module")
def s3_environment(services):
    """The submitting machine reaches the object store too (to read the artifacts back)."""
    s3, _ = services
    saved = {name: os.environ.get(name) for name in s3.environment()}
    os.environ.update(s3.environment())
    yield s3.environment()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def orchestrator(s3: S3Server) -> KubeflowOrchestrator:
    """The `kubeflow` orchestrator of a stack with a Kubeflow metadata service and an S3 artifact store."""
    stack = Stack(
        "cluster",
        # reached through kubectl from a laptop; a pod dials METADATA_GRPC_SERVICE_HOST instead
        MetadataStoreComponent("cluster-mlmd", "kubeflow", {"kubernetes_context": "played-cluster"}),
        ArtifactStoreComponent("cluster-s3", ARTIFACTS),
        OrchestratorComponent("cluster-kfp", "kubeflow"),
    )
    config = KubeflowOrchestratorConfig(
        host="https://kfp.played.example/pipeline",  # never contacted: the package is played here
        packages=("zen-mlmd-played-pipeline==0.1.0",),
        # the deployment's index serving zen-mlmd (never reached: the played task image has every
        # package installed and its pip has no index, as a baked image would)
        pip_index_urls=("https://packages.played.example/simple",),
        environment={"AWS_ENDPOINT_URL": s3.endpoint, "AWS_DEFAULT_REGION": "us-east-1"},
        secret_name=SECRET, secret_environment=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        heartbeat_sec=HEARTBEAT_SEC, stale_after_sec=STALE_AFTER_SEC)
    return KubeflowOrchestrator(stack, config, quiet=True)


@pytest.fixture(scope="module")
def cluster(services, tmp_path_factory):
    """The played KFP deployment, its task image built from what a compiled package installs."""
    s3, mlmd = services
    workdir = tmp_path_factory.mktemp("played-cluster")
    request = orchestrator(s3).submission(played.build(), str(workdir / "probe.yaml"), run_name="probe")
    with open(request.package_path, encoding="utf-8") as handle:
        package = next(yaml.safe_load_all(handle))
    wheels = build_wheels(workdir / "wheels")
    venv_bin = task_venv(package, wheels, workdir / "venv")
    config = pb.MetadataStoreClientConfig(host="127.0.0.1", port=mlmd.port)
    import s3fs

    filesystem = s3fs.S3FileSystem(key=CREDENTIALS["AWS_ACCESS_KEY_ID"], secret=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                                   client_kwargs={"endpoint_url": s3.endpoint, "region_name": "us-east-1"})
    return PlayedCluster(store=metadata_store.MetadataStore(config), service=("127.0.0.1", mlmd.port),
                         venv_bin=venv_bin, s3=filesystem, secrets={SECRET: dict(CREDENTIALS)},
                         workdir=workdir / "pods")


def submit(cluster: PlayedCluster, s3: S3Server, pipeline, run_name: str, tmp_path: Path, kill=None, **params):
    request = orchestrator(s3).submission(pipeline.build(**params), str(tmp_path / f"{run_name}.yaml"),
                                          run_name=run_name)
    return request, cluster.run(request.package_path, request.run_arguments["arguments"], run_name,
                                request.run_arguments["pipeline_root"], kill=kill)


def reader(mlmd: GrpcServer):
    return MetadataStoreComponent("reader", "kubeflow", {"host": "127.0.0.1", "port": mlmd.port})


@pytest.fixture(scope="module")
def first_run(cluster, services, s3_environment, tmp_path_factory):
    s3, _ = services
    return submit(cluster, s3, played, "played-1", tmp_path_factory.mktemp("first"))


def test_each_pod_installs_exactly_what_the_package_says(first_run):
    from importlib.metadata import version

    request, played_run = first_run
    with open(request.package_path, encoding="utf-8") as handle:
        package = next(yaml.safe_load_all(handle))
    assert requirements_of(package) == [
        "kfp==2.13.0", f"zen-mlmd=={version('zen-mlmd')}", f"zen-mlmd-kfp=={version('zen-mlmd-kfp')}",
        f"s3fs=={version('s3fs')}", "zen-mlmd-played-pipeline==0.1.0"]
    # and says so where KFP's UI shows a pipeline's description
    assert f"each task installs zen-mlmd=={version('zen-mlmd')}" in package["pipelineInfo"]["description"]
    assert played_run.tasks == {"make-numbers": "succeeded", "summarize": "succeeded", "report": "succeeded",
                                "zen-mlmd-end-run": "succeeded"}, played_run.logs


def test_a_task_records_its_step_in_a_few_calls(first_run):
    """Each task's own count: the run's first task adopts KFP's root DAG (one write), every
    task writes its step's facts once (no heartbeat: the steps are short); the rest are reads."""
    _, played_run = first_run
    counts = {}
    for key in ("make-numbers", "summarize", "report"):
        [line] = [line for line in played_run.logs[key].splitlines() if "MLMD calls" in line]
        calls, writes, beats = re.search(r"(\d+) MLMD calls, (\d+) record writes, (\d+) heartbeats",
                                         line).groups()
        counts[key] = (int(calls) - int(beats), int(writes))  # a slow machine may add heartbeats
    assert counts["make-numbers"][1] == 2 and counts["summarize"][1] == counts["report"][1] == 1, counts
    # measured: 9, 8 and 8 calls (the first task registers the run's types)
    assert all(calls <= 10 for calls, _ in counts.values()), counts


def test_the_run_is_recorded_once_in_kfps_records(first_run, cluster, services):
    from zen_mlmd.post_execution import get_run

    _, mlmd = services
    request, played_run = first_run
    raw = cluster.store
    context = raw.get_context_by_type_and_name("system.PipelineRun", played_run.run_id)
    executions = raw.get_executions_by_context(context.id)
    types = {t.id: t.name for t in raw.get_execution_types()}
    containers = [e for e in executions if types[e.type_id] == "system.ContainerExecution"]
    # one execution per task, KFP's own: zen_mlmd added its facts, it made no second record
    assert sorted(e.custom_properties["task_name"].string_value for e in containers) == [
        "make-numbers", "report", "summarize", "zen-mlmd-end-run"]
    # nothing in a convention of zen_mlmd's own: no second copy of the run
    assert {t.name for t in raw.get_context_types()} == {"system.Pipeline", "system.PipelineRun"}
    assert len(raw.get_artifacts()) == 3  # one per output, recorded by KFP's launcher
    summarize = next(e for e in containers if e.custom_properties["task_name"].string_value == "summarize")
    props = summarize.custom_properties
    assert props["step_type"].string_value == "played_pipeline.summarize"
    assert props["run_name"].string_value == "played-1"
    assert len(props["cache_fingerprint"].string_value) == 64 and props["code_fingerprint"].string_value
    assert props["pod_name"].string_value.startswith("played-")  # KFP's launcher's own record
    with reader(mlmd).open(read_only=True) as store:
        run = get_run("played-1", store=store)
        assert run.run_id == played_run.run_id
        assert (run.status, [(s.name, s.status) for s in run.steps]) == ("completed", [
            ("make_numbers", "completed"), ("summarize", "completed"), ("report", "completed")])
        assert run.steps["report"].outputs["output"].read(artifact_store=ARTIFACTS) == "4 numbers, total 10"
        numbers = run.steps["make_numbers"].outputs["numbers"]
        # KFP recorded the output where zen_mlmd wrote it, under the run's own pipeline root
        assert numbers.uri.startswith(f"{ARTIFACTS}/played/{played_run.run_id}/make_numbers/")
        assert numbers.read(artifact_store=ARTIFACTS) == [1, 2, 3, 4] and numbers.materializer


def test_the_kfp_ui_shows_the_run(first_run, cluster):
    _, played_run = first_run
    root = view_run(cluster.store, played_run.run_id)
    # KFP 2.5 names a DAG's task by its display name: the steps' group, then the run's end task
    assert {k: t.state for k, t in root.tasks.items()} == {"zen-mlmd-run": "COMPLETE",
                                                           "zen-mlmd-end-run": "COMPLETE"}
    steps = view_run(cluster.store, played_run.run_id, dag_id=_group(cluster, played_run.run_id))
    assert {k: (t.label, t.state) for k, t in steps.tasks.items()} == {
        "make-numbers": ("make_numbers", "COMPLETE"), "summarize": ("summarize", "COMPLETE"),
        "report": ("report", "COMPLETE")}
    assert steps.tasks["summarize"].metrics == {"summary": {"total": 10.0, "count": 4.0}}


def test_the_second_submission_is_served_from_the_cache(first_run, cluster, services, tmp_path):
    from zen_mlmd.post_execution import get_run

    s3, mlmd = services
    _, played_run = submit(cluster, s3, played, "played-2", tmp_path)
    assert set(played_run.tasks.values()) == {"succeeded"}, played_run.logs
    with reader(mlmd).open(read_only=True) as store:
        run = get_run("played-2", store=store)
        assert run.status == "cached"
        assert [(s.name, s.status, s.original.run_name) for s in run.steps] == [
            ("make_numbers", "cached", "played-1"), ("summarize", "cached", "played-1"),
            ("report", "cached", "played-1")]
        assert run.steps["report"].outputs["output"].read(artifact_store=ARTIFACTS) == "4 numbers, total 10"
    steps = view_run(cluster.store, played_run.run_id, dag_id=_group(cluster, played_run.run_id))
    assert {t.state for t in steps.tasks.values()} == {"CACHED"}


def test_a_failing_step_ends_the_run_failed_through_its_end_task(first_run, cluster, services, tmp_path):
    """KFP runs the exit handler's end task after a failed task: the run ends failed, nothing is lost."""
    from zen_mlmd.post_execution import get_run

    s3, mlmd = services
    _, played_run = submit(cluster, s3, exploding, "exploding-1", tmp_path)
    assert played_run.tasks == {"make-numbers": "succeeded", "explode": "failed", "halve": "not run",
                                "zen-mlmd-end-run": "succeeded"}, played_run.logs
    with reader(mlmd).open(read_only=True) as store:
        run = get_run("exploding-1", store=store)
        assert run.status == "failed"
        assert [(s.name, s.status) for s in run.steps] == [
            ("make_numbers", "completed"), ("explode", "failed"), ("halve", "canceled")]
        # KFP's launcher dropped what the task recorded; the end task wrote it back
        error = run.steps["explode"].error
        assert (error.type, error.message) == ("ValueError", "cannot count 2 numbers")
        assert "raise ValueError" in error.traceback
        assert run.steps["explode"].type_name == "played_pipeline.explode"


def test_a_killed_task_leaves_a_run_that_reads_interrupted_once_its_heartbeat_is_stale(
        first_run, cluster, services, tmp_path, monkeypatch):
    from zen_mlmd.cli.main import cli

    s3, mlmd = services

    def lingering_with_a_heartbeat() -> bool:  # the step runs, and has beaten at least once
        found = [e for e in cluster.store.get_executions_by_type("system.ContainerExecution")
                 if e.custom_properties.get("task_name") is not None
                 and e.custom_properties["task_name"].string_value == "linger"
                 and "zen_mlmd_heartbeat" in e.custom_properties]
        return bool(found)

    _, played_run = submit(cluster, s3, lingering, "lingering-1", tmp_path,
                           kill=("linger", lingering_with_a_heartbeat))
    assert played_run.tasks == {"make-numbers": "succeeded", "linger": "killed"}, played_run.logs
    killed_at = time.time()
    monkeypatch.setenv("ZEN_MLMD_CONFIG_DIR", str(tmp_path / "config"))
    runner = CliRunner()
    registered = runner.invoke(cli, ["metadata-store", "register", "service", "-f", "kubeflow",
                                     "--host", "127.0.0.1", "--port", str(mlmd.port)])
    assert registered.exit_code == 0, registered.output

    def listed() -> str:
        result = runner.invoke(cli, ["run", "list", "--store", "service", "--pipeline", "lingering"])
        assert result.exit_code == 0, result.output
        return result.output

    first = listed()
    assert "lingering-1" in first and "running" in first, first  # seen a moment ago
    while time.time() - killed_at < STALE_AFTER_SEC + 10 and "interrupted" not in listed():
        time.sleep(0.5)
    output = listed()
    assert "lingering-1" in output and "interrupted" in output, output
    # The reader's "last seen" is the last sign of life MLMD recorded for the run (its context and
    # executions), the killed task's last heartbeat included (compared in recorded times).
    from zen_mlmd.mlmd.store import MetadataStore
    from zen_mlmd.post_execution.api import get_run
    from zen_mlmd.post_execution.status import run_is_interrupted
    from zen_mlmd.cli.run import format_time

    run = get_run("lingering-1", MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=mlmd.port)))
    assert run.status == "interrupted"
    [context] = [c for c in cluster.store.get_contexts_by_type("system.PipelineRun") if c.name == played_run.run_id]
    executions = cluster.store.get_executions_by_context(context.id)
    [linger] = [e for e in executions if e.custom_properties["task_name"].string_value == "linger"]
    assert "zen_mlmd_heartbeat" in linger.custom_properties
    assert run.last_seen_ms == max(context.last_update_time_since_epoch,
                                   *(e.last_update_time_since_epoch for e in executions))
    assert run.last_seen_ms >= linger.last_update_time_since_epoch
    assert f"lingering-1: interrupted, last seen {format_time(run.last_seen)} UTC" in output
    # interrupted only once the threshold has passed since that heartbeat
    record, stale_ms = run._record, STALE_AFTER_SEC * 1000
    assert not run_is_interrupted(record, run.last_seen_ms, now_ms=run.last_seen_ms + stale_ms - 1)
    assert run_is_interrupted(record, run.last_seen_ms, now_ms=run.last_seen_ms + stale_ms + 1)


def _group(cluster: PlayedCluster, run_id: str) -> int:
    root = view_run(cluster.store, run_id)
    [group] = [e for e in cluster.store.get_executions_by_type("system.DAGExecution")
               if e.custom_properties["display_name"].string_value == "zen-mlmd-run"
               and e.custom_properties["parent_dag_id"].int_value == root.root_id]
    return group.id
