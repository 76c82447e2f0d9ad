"""The web view under test: an HTTP client on a registered store, a real server, a real browser.

- `register_store` registers a backend's store (and an artifact store) in the
  test's private config directory, as a user would with the CLI;
- `ui_client` is Starlette's TestClient on the app over that store, opened
  read-only exactly as `zen-mlmd ui` opens it; `calls` counts its MLMD calls;
- `UIServer` runs `zen-mlmd ui --store NAME --port 0` in a subprocess
  (uvicorn on 127.0.0.1) and reads the address it prints;
- `chromium` is Debian's Chromium driven by its chromedriver through
  Selenium: no browser is downloaded.

Imported by tests/ui and by the adapters' tests (scripts/test.sh puts tests/
on PYTHONPATH).
"""
from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from backends import BackendSpec

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SERVER_START_TIMEOUT = 30.0
_URL = re.compile(r"at (http://\S+:\d+/)")


def register_store(backend: BackendSpec, name: str = "ui", artifact_root: Path | None = None) -> str:
    """Register the backend's store (and `artifact_root` as an artifact store) in the test's config."""
    from zen_mlmd.stack import StackRegistry

    registry = StackRegistry()
    registry.register_metadata_store(name, backend.flavor, dict(backend.options))
    if artifact_root is not None:
        registry.register_artifact_store(f"{name}-artifacts", str(artifact_root))
    return name


class CountingSession:
    """Opens the registered store read-only as `zen-mlmd ui` does, and keeps it to count its MLMD calls."""

    def __init__(self, store_name: str):
        self.store_name = store_name
        self.session = None

    def __call__(self):
        from zen_mlmd.post_execution.session import open_named_session

        self.session = open_named_session(self.store_name)
        return self.session

    @property
    def calls(self) -> collections.Counter:
        return self.session.store.calls

    def reset(self) -> None:
        self.session.store.reset_counts()

    def total(self) -> int:
        return sum(self.calls.values())


def ui_client(store_name: str):
    """(TestClient, CountingSession) for the app over `store_name`."""
    from starlette.testclient import TestClient

    from zen_mlmd.ui.app import create_app

    opener = CountingSession(store_name)
    app = create_app(opener, store_label=f"{store_name} (test)", allowed_hosts=["testserver"])
    return TestClient(app, raise_server_exceptions=True), opener


def count_calls(client, opener: CountingSession, url: str, warm: bool = True):
    """(response, MLMD calls of one GET of `url`); `warm` first loads it once (types cached)."""
    if warm:
        client.get(url)
    opener.reset()
    response = client.get(url)
    return response, collections.Counter(opener.calls)


class UIServer:
    """`zen-mlmd ui --store NAME --port 0` in a subprocess; `url` is where it serves."""

    def __init__(self, store_name: str, workdir: Path, extra_args: tuple[str, ...] = ()):
        self.args = [sys.executable, "-m", "zen_mlmd.cli.main", "ui", "--store", store_name,
                     "--port", "0", *extra_args]
        self.log_path = workdir / "ui-server.log"
        self.process: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> "UIServer":
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, env=dict(os.environ))
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            match = _URL.search(self.log())
            if match:
                self.url = match.group(1)
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.__exit__(None, None, None)
        raise AssertionError(f"zen-mlmd ui did not start; its output:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def chromium(tmp_path) -> Iterator:
    """A headless Chromium from Debian's packages, driven through its chromedriver (Selenium)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run the suite with `bash scripts/test.sh`, which "
                    "installs Debian's chromium and chromium-driver", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path / "chromium-profile"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--no-default-browser-check", "--window-size=1440,1000",
                     f"--user-data-dir={profile}"):
        options.add_argument(argument)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
