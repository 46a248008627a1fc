"""`sweep serve` in a real headless Chromium (Playwright driving the OS's chromium): the
page loads, hovering names a cell's run, a click draws its trace, a zoom recomputes the
image and its dimension, and a bad request shows its message while the server goes on.

The server runs in this process on a free loopback port, as ``sweep serve`` runs it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import threading
import time

import pytest

from sweep.cli import main
from sweep.fractal import loss_experiment, network_experiment
from sweep.serve import Shown, create_app
from sweep.serve.sweepview import open_sweep

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("SWEEP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs the OS's chromium for the browser tests; .ci/run installs it")
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)


@contextlib.contextmanager
def serving(shown: Shown):
    """The app on a free port of 127.0.0.1 in a thread; yields its URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(create_app(shown), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def teaching(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "teaching"
    assert main(["run", "--lr", "1e-2:2:24:log", "--w0", "-2:3:11", "--out", str(out), "--no-report", "--quiet"]) == 0
    return open_sweep(out)


HOVER = re.compile(r"lr = ([-\d.e+]+), w0 = ([-\d.e+]+): (\w+) after (\d+) updates")


def _point(page, selector: str, fx: float, fy: float) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    return box["x"] + fx * box["width"], box["y"] + fy * box["height"]


def test_the_sweep_page_hovers_traces_and_recomputes(page, teaching):
    frame = teaching.frame
    with serving(Shown(sweep=teaching)) as url:
        page.goto(url)
        page.wait_for_function("document.body.dataset.drawn === '1'", timeout=30_000)
        assert "264 runs of gd" in page.locator("#what").text_content()
        # Hover: the status line names the cell's settings and the outcome its run had.
        x, y = _point(page, "#map-outcome", 0.62, 0.4)
        page.mouse.move(x, y, steps=3)
        text = page.locator("#hover").text_content()
        lr, w0, outcome, n_iter = HOVER.search(text).groups()
        row = frame.iloc[((frame["lr"] - float(lr)).abs() + (frame["w0"] - float(w0)).abs()).idxmin()]
        assert (outcome, int(n_iter)) == (row["outcome"], row["n_iter"])
        assert page.locator("#tooltip").is_visible()
        # Click: that run is traced and drawn.
        page.mouse.click(x, y)
        page.wait_for_function("document.getElementById('trace-summary').textContent.includes('updates;')", timeout=60_000)
        assert page.locator("#trace-summary").text_content().startswith(f"lr={float(lr):g}, w0={float(w0):g}: {outcome} after {n_iter} updates")
        page.wait_for_function("document.getElementById('trace-path').naturalWidth > 100", timeout=30_000)
        # Live: another max_iter recomputes the grid; hover then reads the new runs.
        page.fill("#live-max_iter", "3")
        page.click("#recompute")
        page.wait_for_function("document.body.dataset.drawn === '2'", timeout=30_000)
        assert "recomputed live on 24 x 11 runs: max_iter = 3" in page.locator("#live-status").text_content()
        page.mouse.move(x + 1, y, steps=2)
        assert int(HOVER.search(page.locator("#hover").text_content()).group(4)) <= 3
        # A bad request: its message in the page, and the server goes on serving.
        page.fill("#live-max_iter", "-5")
        page.click("#recompute")
        page.wait_for_function("!document.getElementById('message').hidden", timeout=30_000)
        assert "max_iter=-5 is not allowed in a live view" in page.locator("#message").text_content()
        page.click("#saved")
        page.wait_for_function("document.body.dataset.drawn === '3'", timeout=30_000)
        assert page.locator("#message").is_hidden()
        assert page.locator("#live-status").text_content() == "showing the saved sweep"


def _wait_for_new_view(page, previous: str | None) -> str:
    page.wait_for_function(f"document.getElementById('fractal-canvas').dataset.job && document.getElementById('fractal-canvas').dataset.job !== '{previous}'", timeout=120_000)
    return page.locator("#fractal-canvas").get_attribute("data-job")


def test_the_trainability_page_zooms_and_refuses_a_bad_window(page, tmp_path):
    base = loss_experiment("cosine-mult", "delta", resolution=64, steps=300)
    with serving(Shown(experiment=base, save_root=tmp_path / "views")) as url:
        page.goto(url)
        first = _wait_for_new_view(page, None)
        first_dimension = page.locator("#dimension").text_content()
        assert "boxes of" in first_dimension or "no estimate" in first_dimension
        assert page.locator("#x-lo").input_value() == "0" and page.locator("#x-hi").input_value() == "1.5"
        # Drag a box: the window narrows to it and the image and dimension are recomputed.
        x0, y0 = _point(page, "#fractal-overlay", 0.25, 0.25)
        x1, y1 = _point(page, "#fractal-overlay", 0.75, 0.75)
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y1, steps=5)
        page.mouse.up()
        second = _wait_for_new_view(page, first)
        lo, hi = float(page.locator("#x-lo").input_value()), float(page.locator("#x-hi").input_value())
        assert lo == pytest.approx(0.375, abs=0.02) and hi == pytest.approx(1.125, abs=0.02)
        assert page.locator("#dimension").text_content() not in ("", "…")
        assert page.locator("#resolution").input_value() == "64"
        # A window below lr 0: the message, and the server still serves the next request.
        page.fill("#x-lo", "-1")
        page.click("#go")
        page.wait_for_function("!document.getElementById('message').hidden", timeout=30_000)
        assert "reaches below 0; a learning rate must be >= 0" in page.locator("#message").text_content()
        page.click("#reset")
        third = _wait_for_new_view(page, second)
        assert page.locator("#message").is_hidden() and page.locator("#x-lo").input_value() == "0"
        # Pan right by half the window, then turn the wheel: a window half as wide about the cursor.
        page.click("#pan-right")
        fourth = _wait_for_new_view(page, third)
        assert (float(page.locator("#x-lo").input_value()), float(page.locator("#x-hi").input_value())) == pytest.approx((0.75, 2.25))
        x, y = _point(page, "#fractal-overlay", 0.5, 0.5)
        page.mouse.move(x, y)
        page.mouse.wheel(0, -100)
        _wait_for_new_view(page, fourth)
        assert (float(page.locator("#x-lo").input_value()), float(page.locator("#x-hi").input_value())) == pytest.approx((1.125, 1.875), abs=0.01)
        page.click("#save")
        page.wait_for_function("document.getElementById('saved-to').textContent.includes('view-1')", timeout=60_000)
        assert (tmp_path / "views" / "view-1" / "image.parquet").exists()


def test_a_network_view_shows_its_progress(page, monkeypatch):
    import sweep.serve.app as app_module
    import sweep.serve.fractalview as fractalview

    # Many small pieces, each held a little longer than the page's polling interval, so that
    # the page sees the job in progress however fast this machine trains a small network.
    monkeypatch.setattr(fractalview, "SERVE_PIECE_FLOPS", 1e6)
    real = fractalview.compute_view

    def slowly(experiment, progress=None, phase=None):
        def held(done, total):
            time.sleep(0.03)
            progress(done, total)

        return real(experiment, held, phase)

    monkeypatch.setattr(app_module, "compute_view", slowly)
    base = network_experiment(width=2, resolution=48, steps=200)
    with serving(Shown(experiment=base)) as url:
        page.goto(url)
        page.wait_for_function("/training: \\d+%/.test(document.getElementById('progress-text').textContent)", timeout=120_000)
        assert page.locator("#progress").is_visible()
        _wait_for_new_view(page, None)
        assert page.locator("#progress").is_hidden()
        assert "converged" in page.locator("#share").text_content()
