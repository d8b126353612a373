"""What the browser tests share: the system Chromium through playwright, and JupyterLab on localhost.

``jupyterlab`` serves the folder the test module's own ``workspace`` fixture returns (a root folder and the
notebook's path in it), with a random token, no news feed and no update check, and shuts it down (kernels
included) afterwards. ``sync_playwright`` skips the test when playwright or /usr/bin/chromium is missing,
unless ``SEGMENTER_REQUIRE_BROWSER=1`` is set, then it fails. ``_is_local`` tells whether a request stays
on this machine.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]
def _skip_or_fail(reason: str) -> None:
    if os.environ.get("SEGMENTER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}. SEGMENTER_REQUIRE_BROWSER=1 asks for the browser test: install Chromium with "
                    "`apt-get install chromium` (it must be /usr/bin/chromium) and the Python package with "
                    "`pip install playwright` (never `playwright install`: the test uses the system Chromium)")
    pytest.skip(reason)


@pytest.fixture
def sync_playwright():
    """Playwright's entry point, once the system Chromium and the package are known to be there."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the playwright Python package is not installed")
    if not CHROMIUM.is_file():
        _skip_or_fail(f"no Chromium at {CHROMIUM}")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _quick(notebook) -> None:
    """Set ``QUICK = True`` in the cell tagged "parameters" (as tests/test_notebooks.py does)."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = "\n".join("QUICK = True  # set by tests/test_browser.py" if line.startswith("QUICK =")
                                    else line for line in cell.source.splitlines())


def _is_local(url: str) -> bool:
    """Whether a request stays on this machine (the JupyterLab server, or data: / blob: URLs the page made)."""
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or parts.hostname in ("127.0.0.1", "localhost", "::1")


@pytest.fixture
def jupyterlab(sync_playwright, workspace, tmp_path_factory):
    """JupyterLab on a free localhost port with a random token; shut down (kernels included) afterwards."""
    root, relative = workspace
    home = tmp_path_factory.mktemp("jupyter")
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # No news feed, no update check, no "would you like news?" toast: the page must not reach the internet.
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    environment = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
                       JUPYTER_RUNTIME_DIR=str(home / "runtime"), MPLBACKEND="Agg")
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(command, cwd=root, env=environment, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{(home / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 60 s:\n{(home / 'server.log').read_text()}")
            time.sleep(0.3)
        yield {"base": base, "token": token, "notebook": relative, "root": root, "log": home / "server.log"}
    finally:
        _shut_down(server, base, token)
        log.close()


def _shut_down(server: subprocess.Popen, base: str, token: str) -> None:
    import psutil

    try:
        children = psutil.Process(server.pid).children(recursive=True)  # the kernels
    except psutil.Error:
        children = []
    if server.poll() is None:
        try:  # the server's own shutdown stops its kernels too
            request = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                             headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(request, timeout=5).close()
            server.wait(timeout=15)
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
            pass
    if server.poll() is None:
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait(timeout=10)
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass


#: each browser-side wait (a widget's effect, the 3D view's first frame), and the notebook's cells (quick mode)
TIMEOUT_MS = 30_000
RUN_ALL_TIMEOUT_MS = 120_000


@contextmanager
def notebook_page(sync_playwright, jupyterlab, tmp_path):
    """The served notebook open in headless Chromium with every cell run; yields the page.

    Every request to anywhere but this machine is aborted and recorded (WebSockets too); afterwards the
    test fails if there was one, if the page logged a console error or an uncaught exception, or if it
    made no request at all (a broken recorder). A cell that raised fails the test at once. A screenshot
    of the page after running all cells is left in ``tmp_path``.
    """
    console_errors: list[str] = []
    outgoing: list[str] = []  # requests to anywhere but this machine (aborted)
    seen: list[str] = []  # every request the page made

    def route(request_route):
        url = request_route.request.url
        if _is_local(url):
            request_route.continue_()
        else:
            outgoing.append(url)
            request_route.abort()

    with sync_playwright() as playwright:
        # launch() gives the browser a fresh profile in a temporary folder of its own
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
            context.route("**/*", route)
            # WebSockets bypass route(): one to anywhere but this machine is answered by a mock that closes
            # it (no connection is made) and is recorded; local ones (the kernel's) go to the server.
            context.route_web_socket(lambda url: not _is_local(url),
                                     lambda socket_: (outgoing.append(socket_.url), socket_.close()))
            page = context.new_page()
            page.on("console", lambda message: message.type == "error" and console_errors.append(
                f"console: {message.text} ({message.location.get('url', '')})"))
            page.on("pageerror", lambda error: console_errors.append(f"pageerror: {error}"))
            page.on("request", lambda request: seen.append(request.url))
            page.set_default_timeout(TIMEOUT_MS)

            url = f"{jupyterlab['base']}/lab/tree/{jupyterlab['notebook']}?reset&token={jupyterlab['token']}"
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            # The status bar says "Python 3 (ipykernel) | Idle" once the page is connected to a started kernel
            # (the toolbar's execution indicator says idle earlier, and Run All before that runs nothing).
            page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle")).wait_for(timeout=60_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            try:  # every code cell ran: its prompt shows an execution count, "[3]:", not "[ ]:" or "[*]:"
                page.wait_for_function(
                    """() => {
                        const prompts = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'));
                        return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
                    }""", timeout=RUN_ALL_TIMEOUT_MS)
            finally:
                page.screenshot(path=str(tmp_path / "after_run_all.png"))
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
            assert errors.count() == 0, f"a cell raised: {errors.first.inner_text()}"
            yield page
        finally:
            browser.close()

    assert seen, "the page made no request at all: the request recorder is broken"
    assert not outgoing, f"the page tried to reach the internet: {outgoing}"
    assert not console_errors, "the page logged errors:\n" + "\n".join(console_errors)
