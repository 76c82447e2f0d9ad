"""Orchestrator flavors: the registry, plugins, options on registered orchestrators, dispatch.

Plugins are real `importlib.metadata.EntryPoint` objects naming classes of
this module (or modules that do not exist), handed to the registry the way
`importlib.metadata.entry_points` hands them over.
"""
from __future__ import annotations

from importlib.metadata import EntryPoint

import pydantic
import pytest
import yaml

from zen_mlmd import pipeline, step
from zen_mlmd.errors import ConfigError, InUseError, UnknownNameError
from zen_mlmd.pipelines import orchestrators
from zen_mlmd.pipelines.orchestrator import LocalOrchestrator
from zen_mlmd.pipelines.orchestrators import (
    FlavorPluginWarning,
    LocalOrchestratorConfig,
    LocalOrchestratorFlavor,
    get_orchestrator_flavor,
    list_orchestrator_flavors,
)
from zen_mlmd.post_execution.api import get_run
from zen_mlmd.post_execution.session import ReadSession
from zen_mlmd.stack import StackRegistry

GROUP = orchestrators.ENTRY_POINT_GROUP


# --- a third-party flavor, written as a plugin author would (no zen_mlmd base class) ---------
class PrefixConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    prefix: str = "third"


class PrefixOrchestrator:
    """Runs in-process, naming every run `<prefix>-<run name>`."""

    def __init__(self, stack, config: PrefixConfig, quiet: bool):
        self.stack, self.config, self.quiet = stack, config, quiet

    def run(self, graph, run_name=None):
        return LocalOrchestrator(self.stack, quiet=self.quiet).run(
            graph, run_name=f"{self.config.prefix}-{run_name}")


class PrefixFlavor:
    name = "prefix"
    integration = "zen-mlmd-prefix"
    config_class = PrefixConfig

    def parse_config(self, raw):
        try:
            return PrefixConfig.model_validate(dict(raw or {}))
        except pydantic.ValidationError as exc:
            raise ConfigError("prefix", dict(raw or {}), str(exc.errors()[0]["msg"]),
                              "give prefix=TEXT") from None

    def implementation(self, stack, options=None, quiet=False):
        return PrefixOrchestrator(stack, self.parse_config(options), quiet)


class NoImplementationFlavor:
    name = "noimpl"
    config_class = PrefixConfig

    def parse_config(self, raw):
        return PrefixConfig()


class FailingInitFlavor(PrefixFlavor):
    name = "failing"

    def __init__(self):
        raise RuntimeError("needs a cluster")


class ShadowFlavor(PrefixFlavor):
    name = "local"


def entry_point(name: str, target: str) -> EntryPoint:
    return EntryPoint(name=name, value=target, group=GROUP)


def here(attribute: str) -> str:
    return f"{__name__}:{attribute}"


@pytest.fixture
def plugins(monkeypatch):
    """The installed plugins are replaced by `PrefixFlavor` and a broken entry point."""
    found = [entry_point("prefix", here("PrefixFlavor")),
             entry_point("broken", "zen_mlmd_no_such_module:Flavor")]
    monkeypatch.setattr(orchestrators.metadata, "entry_points",
                        lambda group: found if group == GROUP else [])
    orchestrators.reload_plugins()
    yield
    orchestrators.reload_plugins()


# --- a small pipeline ---------------------------------------------------------------------
@step
def make_numbers(count: int = 3) -> list:
    return list(range(count))


@step
def total(numbers) -> int:
    return sum(numbers)


@pipeline
def adding(count: int = 3):
    total(make_numbers(count=count))


@pytest.fixture
def registry(tmp_path) -> StackRegistry:
    registry = StackRegistry(tmp_path / "config")
    registry.register_metadata_store("db", "sqlite", {"path": str(tmp_path / "m.db")})
    registry.register_artifact_store("art", str(tmp_path / "artifacts"))
    return registry


def read_run(stack, run_name: str):
    return get_run(run_name, ReadSession(stack.metadata_store.open(), stack.artifact_store.open()))


# --- the built-in flavor ---------------------------------------------------------------------
def test_local_comes_first_and_is_one_object():
    assert list_orchestrator_flavors()[0].name == "local"
    assert get_orchestrator_flavor("local") is get_orchestrator_flavor("local")
    assert isinstance(get_orchestrator_flavor("local"), LocalOrchestratorFlavor)


def test_an_unknown_flavor_lists_the_valid_ones():
    with pytest.raises(UnknownNameError) as caught:
        get_orchestrator_flavor("kubernetes")
    assert str(caught.value).startswith("unknown orchestrator flavor 'kubernetes'")
    assert "local" in caught.value.known


def test_local_config_defaults_to_native_is_frozen_and_forbids_unknown_options():
    config = get_orchestrator_flavor("local").parse_config({})
    assert config == LocalOrchestratorConfig(convention="native")
    with pytest.raises(pydantic.ValidationError):
        config.convention = "kfp"
    with pytest.raises(ConfigError) as caught:
        get_orchestrator_flavor("local").parse_config({"conventoin": "native"})
    assert (caught.value.field, caught.value.value) == ("conventoin", "native")
    assert "unknown option for flavor 'local'" in str(caught.value)
    assert "use one of: convention" in str(caught.value)


def test_local_convention_must_be_one_zen_mlmd_can_write():
    with pytest.raises(ConfigError) as caught:
        get_orchestrator_flavor("local").parse_config({"convention": "mlflow"})
    assert caught.value.field == "convention" and caught.value.value == "mlflow"
    assert "is not a convention zen_mlmd can record in" in str(caught.value)
    assert "native" in caught.value.fix


# --- plugins ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, target, reason", [
    ("broken", "zen_mlmd_no_such_module:Flavor", "cannot be imported: ModuleNotFoundError"),
    ("thing", "os.path:join", "is not a class"),
    ("noimpl", here("NoImplementationFlavor"), "the class has no implementation"),
    ("other", here("PrefixFlavor"), "the class's flavor name is 'prefix'"),
    ("failing", here("FailingInitFlavor"), "cannot be instantiated: RuntimeError: needs a cluster"),
])
def test_a_broken_plugin_warns_and_is_skipped(name, target, reason):
    with pytest.warns(FlavorPluginWarning) as caught:
        found = orchestrators.load_plugins(
            [entry_point(name, target), entry_point("prefix", here("PrefixFlavor"))])
    assert list(found) == ["prefix"] and isinstance(found["prefix"], PrefixFlavor)
    [warning] = [str(w.message) for w in caught]
    assert warning.startswith(f"skipping orchestrator flavor plugin {name} = {target}: ")
    assert reason in warning


def test_two_plugins_with_one_name_are_an_error_on_use():
    from zen_mlmd.plugins import PluginConflictError, resolve

    twin = entry_point("prefix", here("PrefixFlavor") + "Twin")
    found = orchestrators.load_plugins([twin, entry_point("prefix", here("PrefixFlavor"))])
    with pytest.raises(PluginConflictError, match="PrefixFlavorTwin.*Fix:"):
        resolve(found, "prefix")


def test_a_plugin_with_the_builtin_name_is_an_error_on_use():
    from zen_mlmd.plugins import PluginConflictError, resolve

    found = orchestrators.load_plugins([entry_point("local", here("ShadowFlavor"))])
    with pytest.raises(PluginConflictError, match="built-in"):
        resolve(found, "local")


PrefixFlavorTwin = type("PrefixFlavorTwin", (PrefixFlavor,), {})


def test_plugins_are_listed_after_the_builtin_and_a_broken_one_only_warns(plugins):
    with pytest.warns(FlavorPluginWarning, match="broken = zen_mlmd_no_such_module:Flavor"):
        names = [flavor.name for flavor in list_orchestrator_flavors()]
    assert names == ["local", "prefix"]
    assert isinstance(get_orchestrator_flavor("prefix"), PrefixFlavor)
    with pytest.raises(UnknownNameError, match="valid options are: local, prefix"):
        get_orchestrator_flavor("broken")


# --- registered orchestrators keep validated options ----------------------------------------------
def test_options_are_validated_and_persisted(registry):
    component = registry.register_orchestrator("kfp-schema", "local", {"convention": "native"})
    assert (component.flavor, component.options) == ("local", {"convention": "native"})
    again = StackRegistry(registry.directory).get_orchestrator("kfp-schema")
    assert again == component
    stored = yaml.safe_load(registry.config_path.read_text())["orchestrators"]["kfp-schema"]
    assert stored == {"flavor": "local", "options": {"convention": "native"}}
    assert registry.register_orchestrator("plain").options == {}


@pytest.mark.parametrize("flavor, options, error", [
    ("local", {"convention": "mlflow"}, ConfigError),
    ("local", {"threads": "4"}, ConfigError),
    ("kubernetes", {}, UnknownNameError),
])
def test_bad_options_or_flavors_write_nothing(registry, flavor, options, error):
    before = registry.config_path.read_bytes()
    with pytest.raises(error):
        registry.register_orchestrator("bad", flavor, options)
    assert registry.config_path.read_bytes() == before


def test_update_changes_unsets_and_validates(registry):
    registry.register_orchestrator("orch")
    assert registry.update_orchestrator("orch", {"convention": "native"}).options == {
        "convention": "native"}
    before = registry.config_path.read_bytes()
    with pytest.raises(ConfigError, match="convention='mlflow'"):
        registry.update_orchestrator("orch", {"convention": "mlflow"})
    with pytest.raises(UnknownNameError, match="unknown option 'image'"):
        registry.update_orchestrator("orch", unset=["image"])
    assert registry.config_path.read_bytes() == before
    assert registry.update_orchestrator("orch", unset=["convention"]).options == {}
    with pytest.raises(UnknownNameError, match="unknown orchestrator 'nope'"):
        registry.update_orchestrator("nope", {"convention": "native"})


def test_config_files_without_orchestrator_options_still_load(tmp_path):
    directory = tmp_path / "old"
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump({
        "version": 1, "active_stack": "s",
        "metadata_stores": {"db": {"flavor": "sqlite", "options": {"path": str(tmp_path / "m.db")}}},
        "artifact_stores": {"art": {"path": str(tmp_path / "art")}},
        "orchestrators": {"old": {"flavor": "local"}},
        "stacks": {"s": {"metadata_store": "db", "artifact_store": "art", "orchestrator": "old"}},
    }))
    stack = StackRegistry(directory).get_active_stack()
    assert (stack.orchestrator.flavor, stack.orchestrator.options) == ("local", {})
    assert stack.describe()["orchestrator"] == {"name": "old", "flavor": "local", "options": {}}
    assert adding.run(stack=stack, run_name="old-config", quiet=True).status == "completed"


def test_an_orchestrator_used_by_a_stack_cannot_be_deleted(registry):
    registry.register_orchestrator("orch")
    registry.register_stack("dev", "db", "art", "orch")
    with pytest.raises(InUseError, match="used by stack\\(s\\) 'dev'.*stack update STACK -o OTHER"):
        registry.delete_orchestrator("orch")
    registry.delete_stack("dev")
    registry.delete_orchestrator("orch")
    assert [c.name for c in registry.list_orchestrators()] == ["default"]


# --- Pipeline.run dispatches to the stack's orchestrator flavor ---------------------------------
def test_the_local_flavor_runs_and_records_a_pipeline(registry):
    registry.register_orchestrator("orch", "local", {"convention": "native"})
    stack = registry.register_stack("dev", "db", "art", "orch")
    run = adding.run(stack=stack, run_name="local-1", quiet=True, count=4)
    assert (run.name, run.status, run.pipeline_name) == ("local-1", "completed", "adding")
    assert run.steps["total"].outputs["output"].read() == 6


def test_a_third_party_flavor_runs_the_pipeline(registry, plugins):
    with pytest.warns(FlavorPluginWarning):  # the broken entry point next to it
        registry.register_orchestrator("third", "prefix", {"prefix": "ext"})
    stack = registry.register_stack("ext", "db", "art", "third")
    run = adding.run(stack=stack, run_name="1", quiet=True)
    assert (run.name, run.status) == ("ext-1", "completed")
    assert read_run(stack, "ext-1").steps["total"].outputs["output"].read() == 3
    with pytest.raises(ConfigError, match="prefix"):
        registry.register_orchestrator("wrong", "prefix", {"prefix": 7})


def test_bad_options_stop_a_run_before_anything_is_recorded(registry):
    stack = registry.register_stack("dev", "db", "art")
    with pytest.raises(ConfigError, match="convention='mlflow'"):
        adding.run(stack=stack, run_name="never", quiet=True, convention="mlflow")
    with stack.metadata_store.open() as store:
        assert store.get_contexts() == []


def test_a_stack_whose_orchestrator_flavor_is_gone_says_so(registry):
    data = yaml.safe_load(registry.config_path.read_text())
    data["orchestrators"]["default"]["flavor"] = "uninstalled"
    registry.config_path.write_text(yaml.safe_dump(data))
    stack = registry.get_active_stack()  # still listable
    assert stack.orchestrator.describe() == {"name": "default", "flavor": "uninstalled",
                                             "options": {}}
    with pytest.raises(UnknownNameError, match="unknown orchestrator flavor 'uninstalled'"):
        adding.run(stack=stack, quiet=True)
