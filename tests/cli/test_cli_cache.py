"""`zen-mlmd cache explain` on runs recorded in the active (default) stack's store."""
from __future__ import annotations

import json
import threading

import pytest

from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step

CONFIG = {"threshold": 0.5}
LOCK = threading.Lock()  # cannot be fingerprinted


def make_scaler(factor):
    @step(name="scale")
    def scale(values: list) -> list:
        return [v * factor for v in values]
    return scale


@step
def numbers(n: int = 3) -> list:
    return [i / n for i in range(n)]


@step
def keep_above(values: list) -> list:
    return [v for v in values if v > CONFIG["threshold"]]


@step
def guarded(values: list) -> int:
    with LOCK:
        return len(values)


def explained(factor):
    scale = make_scaler(factor)

    @pipeline(name="explained")
    def explained_pipeline():
        values = numbers()
        scale(values)
        keep_above(values)
        guarded(values)
    return explained_pipeline


@pytest.fixture
def runs(run, monkeypatch):
    from zen_mlmd.stack import get_active_stack

    stack = get_active_stack()
    explained(1).run(stack=stack, quiet=True, run_name="explain-1")
    monkeypatch.setitem(CONFIG, "threshold", 0.7)
    explained(1000).run(stack=stack, quiet=True, run_name="explain-2")
    return stack


def test_cache_explain_names_what_changed_and_what_cannot_be_cached(run, runs):
    text = run("cache", "explain", "explain-2").stdout
    assert "Run 'explain-2': 1 of 4 steps served from the cache" in text
    lines = {line.split()[0]: line for line in text.splitlines()[2:]}
    assert "closure variable factor changed: 1 -> 1000" in lines["scale"]
    assert "global CONFIG changed: threshold 0.5 -> 0.7" in lines["keep_above"]
    assert lines["guarded"].split()[1] == "uncacheable"
    assert "reads global 'LOCK' (_thread.lock) that cannot be fingerprinted" in lines["guarded"]
    assert lines["numbers"].split()[1] == "hit"


def test_cache_explain_as_json(run, runs):
    [guarded_step] = json.loads(run("cache", "explain", "explain-2", "guarded", "--json").stdout)
    assert guarded_step["status"] == "uncacheable"
    assert guarded_step["reasons"] == [
        "reads global 'LOCK' (_thread.lock) that cannot be fingerprinted",
        "the step will run every time; pass it as a parameter or mark the step enable_cache=False",
    ]
    [keep] = json.loads(run("cache", "explain", "explain-2", "keep_above", "--json").stdout)
    assert keep == {"step": "keep_above", "status": "miss",
                    "reasons": ["global CONFIG changed: threshold 0.5 -> 0.7"],
                    "compared_with": keep["compared_with"]}
    assert keep["compared_with"].startswith("explain-1.keep_above (execution ")
