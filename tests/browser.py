"""Headless Chromium for the page tests, driven over the Chrome DevTools Protocol.

Debian's ``chromium`` is started with a fresh profile and ``--remote-debugging-port=0``;
the port it picks is read from ``DevToolsActivePort`` in the profile, and the page
target is driven over its websocket (``websocket-client``). :func:`chromium_path`
fails instead of skipping under CI (``CI=true``): a browser test that CI skips does
not exist.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Launch flags that work in this project's containers (root, no GPU, no network).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)
START_TIMEOUT = 60.0


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run; see .ci/run)")
    pytest.skip(reason)


def chromium_path() -> str:
    """The browser, or a skip (a failure under CI) saying how to install it."""
    found = os.environ.get("PRETTYFLOW_CHROMIUM") or next(
        (path for name in CANDIDATES if (path := shutil.which(name))), None
    )
    if found is None:
        _missing("no Chromium: apt-get install -y chromium")
    try:
        import websocket  # noqa: F401
    except ImportError:
        _missing("no websocket-client: pip install -r locks/main.txt")
    return found


class Browser:
    """One headless Chromium with one page, closed by :meth:`close`."""

    def __init__(
        self, executable: str, profile: Path, width: int = 1400, height: int = 1000
    ):
        import websocket

        profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.events: list[dict[str, Any]] = []
        self._id = 0
        try:
            port = self._port(profile / "DevToolsActivePort")
            targets = json.load(
                urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list")
            )
            page = next(target for target in targets if target["type"] == "page")
            self.socket = websocket.create_connection(
                page["webSocketDebuggerUrl"],
                timeout=START_TIMEOUT,
                suppress_origin=True,
            )
        except BaseException:
            self.process.kill()
            raise
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Network.enable")

    def _port(self, active_port: Path) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            if active_port.is_file():
                text = active_port.read_text().split("\n")
                if text and text[0].strip():
                    return int(text[0])
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events are kept)."""
        self._id += 1
        self.socket.send(
            json.dumps({"id": self._id, "method": method, "params": params})
        )
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, message in enumerate(self.events):
                if message.get("method") == event:
                    return self.events.pop(index)
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(f"no {event} within {timeout} s")

    def open(self, url: str) -> None:
        """Load ``url`` and wait for the load event (a new document even where only
        the fragment differs from the current address)."""
        current = self.evaluate("location.href")
        if url != "about:blank" and current.split("#")[0] == url.split("#")[0]:
            self.open("about:blank")
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def choose(self, selector: str, value: str) -> None:
        """Set a form control as a user would: its value, then a change event."""
        self.evaluate(
            f"(() => {{ const node = document.querySelector({json.dumps(selector)});"
            f" node.value = {json.dumps(value)};"
            " node.dispatchEvent(new Event('change', {bubbles: true})); })()"
        )

    def requested_urls(self) -> list[str]:
        return [
            message["params"]["request"]["url"]
            for message in self.events
            if message.get("method") == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                      "scale": 1},
            )  # fmt: skip
        data = self.send("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:  # noqa: BLE001 - already gone
            pass
        try:
            self.socket.close()
        finally:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
