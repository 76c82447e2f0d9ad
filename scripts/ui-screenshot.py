"""Retake docs/ui-run-page.png: the web view's page of a Kubeflow Pipelines run.

    python scripts/ui-screenshot.py [OUTPUT.png]

Writes the two runs the KFP adapter's tests read (`write_training_runs`: a
loop's iterations, a cached task, a failed one) into a SQLite store in a
throw-away config directory, serves it with `zen-mlmd ui`, and opens the
second run's page in Debian's headless Chromium (as tests/ui_helpers.py
does). Needs the kfp adapter installed and `chromium`, `chromium-driver`.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "adapters" / "kfp" / "tests")]
WINDOW = (1440, 857)


def main(output: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        os.environ["ZEN_MLMD_CONFIG_DIR"] = work
        from ml_metadata.metadata_store import metadata_store
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        from backends import BackendSpec, connection_config
        from kfp_v2_runs import RUN_2, write_training_runs
        from ui_helpers import CHROMEDRIVER, CHROMIUM, UIServer, register_store

        backend = BackendSpec("sqlite", "sqlite", {"path": f"{work}/mlmd.sqlite"})
        write_training_runs(metadata_store.MetadataStore(connection_config(backend)))
        register_store(backend, "kubeflow-prod")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--hide-scrollbars", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                         f"--user-data-dir={work}/profile"):
            options.add_argument(argument)
        with UIServer("kubeflow-prod", Path(work)) as server:
            driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
            try:
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {  # the page's own size
                    "width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False})
                driver.get(f"{server.url}runs/{RUN_2}")
                WebDriverWait(driver, 30).until(expected_conditions.presence_of_element_located(
                    (By.CSS_SELECTOR, '#dag[data-rendered="true"]')))
                driver.save_screenshot(str(output))
            finally:
                driver.quit()
    print(f"wrote {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "ui-run-page.png")
