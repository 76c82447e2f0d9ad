"""The pages in a real browser: Debian's headless Chromium against `zen-mlmd ui` (uvicorn on 127.0.0.1).

Each test saves screenshots under its temporary directory and asserts on
what the DOM (and the graph drawn in it) shows.
"""
from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from ui_helpers import UIServer

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
WAIT = 20  # seconds: a bound on waiting for the page, not a measurement


def graph_nodes(driver, graph: str = "dag") -> list[dict]:
    return driver.execute_script(
        "return window.zenGraphs[arguments[0]].nodes().map(n => n.data());", graph)


def wait_for_graph(driver, graph: str = "dag") -> None:
    WebDriverWait(driver, WAIT).until(
        ready.presence_of_element_located((By.CSS_SELECTOR, f'#{graph}[data-rendered="true"]')))


def click_node(driver, graph: str, node_id: str) -> None:
    """Click a node where the graph drew it on its canvas."""
    x, y = driver.execute_script(
        "const cy = window.zenGraphs[arguments[0]]; const p = cy.getElementById(arguments[1]).renderedPosition();"
        "return [p.x, p.y];", graph, node_id)
    element = driver.find_element(By.ID, graph)
    size = element.size
    ActionChains(driver).move_to_element_with_offset(
        element, int(x - size["width"] / 2), int(y - size["height"] / 2)).click().perform()


def test_runs_to_a_run_to_a_step_to_an_artifact_and_its_lineage(native_runs, chromium, tmp_path):
    first, second, cached = native_runs.names
    with UIServer(native_runs.store_name, tmp_path) as server:
        driver = chromium
        driver.get(server.url + "runs")
        rows = driver.find_elements(By.CSS_SELECTOR, "#runs-table tbody tr")
        assert [row.get_attribute("data-run") for row in rows] == [cached, second, first]
        driver.save_screenshot(str(tmp_path / "runs.png"))

        driver.find_element(By.LINK_TEXT, second).click()
        wait_for_graph(driver)
        steps = {n["name"]: n["status"] for n in graph_nodes(driver) if n["kind"] == "step"}
        assert steps == {"load": "cached", "split": "cached", "train": "completed", "evaluate": "completed"}
        assert driver.find_element(By.CSS_SELECTOR, "h1 .badge").text == "completed"
        driver.save_screenshot(str(tmp_path / "run.png"))

        train = next(n for n in graph_nodes(driver) if n.get("name") == "train")
        click_node(driver, "dag", train["id"])
        detail = WebDriverWait(driver, WAIT).until(ready.presence_of_element_located(
            (By.CSS_SELECTOR, f'#step-detail[data-execution-id="{train["execution_id"]}"]')))
        assert "Cache decision: miss" in detail.text and "C: 1.0 -> 2.0" in detail.text
        assert f"step={train['execution_id']}" in driver.current_url
        driver.save_screenshot(str(tmp_path / "step.png"))

        detail.find_element(By.LINK_TEXT, "model").click()
        wait_for_graph(driver, "lineage")
        assert driver.find_element(By.CSS_SELECTOR, "#artifact-head h1").text.startswith("Artifact model")
        nodes = graph_nodes(driver, "lineage")
        assert any("root" in driver.execute_script(
            "return window.zenGraphs.lineage.getElementById(arguments[0]).classes();", n["id"]) for n in nodes)
        assert {n["name"] for n in nodes if n["kind"] == "step"} >= {"train", "evaluate"}
        assert driver.find_element(By.ID, "preview").get_attribute("data-kind") == "metrics"
        driver.save_screenshot(str(tmp_path / "artifact.png"))

        hops = driver.find_element(By.NAME, "hops")
        hops.clear()
        hops.send_keys("1")
        previous = driver.find_element(By.ID, "lineage")
        driver.find_element(By.CSS_SELECTOR, "#lineage-card button[type=submit]").click()
        # the new page, not the old graph; while the old document goes, chromedriver may
        # answer "node does not belong to the document" before "stale": polled again
        WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
            ready.staleness_of(previous))
        wait_for_graph(driver, "lineage")
        assert len(graph_nodes(driver, "lineage")) < len(nodes)


def test_compare_two_runs(native_runs, chromium, tmp_path):
    first, second, _ = native_runs.names
    with UIServer(native_runs.store_name, tmp_path) as server:
        driver = chromium
        driver.get(server.url + "compare?pipeline=training")
        for name in (first, second):
            driver.find_element(By.CSS_SELECTOR, f'#run-picker input[value="{name}"]').click()
        driver.find_element(By.CSS_SELECTOR, "#compare-form button[type=submit]").click()
        table = WebDriverWait(driver, WAIT).until(ready.presence_of_element_located((By.ID, "compare-table")))
        columns = [a.text for a in table.find_elements(By.CSS_SELECTOR, "thead th a")]
        assert sorted(columns) == sorted([first, second])
        c_row = [cell.text for cell in table.find_elements(By.CSS_SELECTOR, 'tr[data-row="train.C"] td')]
        assert sorted(c_row) == ["1.0", "2.0"]
        assert len(table.find_elements(By.CSS_SELECTOR, 'tr[data-row="train.C"] td.diff')) == 1
        points = driver.find_elements(By.CSS_SELECTOR, "#metric-chart circle.point")
        assert len(points) == 3
        driver.save_screenshot(str(tmp_path / "compare.png"))


def test_a_running_runs_page_follows_it_to_its_end(metadata_store, backend, chromium, tmp_path):
    from ui_helpers import register_store
    from zen_mlmd.tracking.recorder import Recorder

    run = Recorder(metadata_store).start_run("live", "live-1")
    run.start_step("first", "tests.first").publish({})
    second = run.start_step("second", "tests.second")
    with UIServer(register_store(backend, "live"), tmp_path) as server:
        driver = chromium
        driver.get(server.url + "runs/live-1")
        wait_for_graph(driver)
        assert {n["status"] for n in graph_nodes(driver) if n["kind"] == "step"} == {"completed", "running"}
        assert driver.find_element(By.CSS_SELECTOR, "h1 .badge").text == "running"
        driver.save_screenshot(str(tmp_path / "running.png"))
        second.publish({})
        run.finish()
        WebDriverWait(driver, WAIT).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "h1 .badge").text == "completed")
        wait_for_graph(driver)
        assert {n["status"] for n in graph_nodes(driver) if n["kind"] == "step"} == {"completed"}
        driver.save_screenshot(str(tmp_path / "ended.png"))
