"""How the phone app feels in Chromium: page load to the unlock screen, and a tap to the next
screen, p50 and p95 of 30, beside a baseline measured in the same run.

The field app is served in web mode (no CDN) with a phone set up, enrolled and holding an
authorised visit, against a hub in this process. Chromium is Debian's, headless, at 360x740.
- load: a new page, in a new browser context (nothing cached: as a phone's first open),
  until the unlock screen's PIN box is in the semantics tree;
- tap: on Today, "Start sign-out" until the visit's sign-out button shows, then back.
The baseline: the same browser loading, and clicking through, a plain HTML page of two
screens served by the same server process (what any web page costs on this machine).

    .venv/bin/python bench/ui_bench.py            # about a minute
    .venv/bin/python bench/ui_bench.py --quick    # 5 of each

Targets (the phone-app issue): load p50 and p95 <= 3 s; tap p50 and p95 <= 0.4 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

import uvicorn
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.hub.events_store import connect
from tests.app.browser import Calls, Screen, chromium, served
from tests.app.conftest import DURESS, PIN, Clock, new_phone
from tests.sync.hubs import free_port, serve_in_thread

LOAD_TARGET, TAP_TARGET = 3.0, 0.4
BASELINE = """<!doctype html><html><body>
<div id="today"><button id="open" onclick="go('visit')">Start sign-out</button></div>
<div id="visit" hidden><button id="sign" onclick="go('today')">Sign out</button></div>
<script>function go(to){for(const s of ['today','visit'])
document.getElementById(s).hidden = s !== to;}</script></body></html>"""


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


def baseline_server() -> str:
    app = Starlette(routes=[Route("/", lambda request: HTMLResponse(BASELINE))])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/"


def plain_clicks(page: Any, url: str, runs: int) -> list[float]:
    """Seconds for a click on the plain page at `url` to change what it shows, `runs` times."""
    page.goto(url)
    taken = []
    for _ in range(runs):
        started = time.perf_counter()
        page.click("#open")
        page.locator("#sign").wait_for()
        taken.append(time.perf_counter() - started)
        page.click("#sign")
    return taken


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    runs = 5 if parser.parse_args().quick else 30
    folder = Path(tempfile.mkdtemp())
    hub = serve_in_thread(connect(f"sqlite:///{folder / 'hub.db'}"), HubKeyPair.generate())
    clock = Clock()
    phone = new_phone(folder, clock)
    phone.create(PIN, DURESS)
    phone.enrol(hub.url, hub.slip("staff-ann"), "bench phone")
    hub.plan("visit-1")
    phone.sync()
    plain = baseline_server()
    figures: dict[str, list[float]] = {"load": [], "tap": [], "base load": [], "base tap": []}
    with served(phone, Calls(phone)) as url, chromium() as browser:
        for _ in range(runs):  # each load in a new browser context: nothing cached
            phone.lock()
            context = browser.new_context(viewport={"width": 360, "height": 740})
            started = time.perf_counter()
            screen = Screen(context.new_page(), "bench").open(url)
            screen.by_id("unlock-pin").wait_for(timeout=30000)
            figures["load"].append(time.perf_counter() - started)
            context.close()
            context = browser.new_context(viewport={"width": 360, "height": 740})
            started = time.perf_counter()
            plain_page = context.new_page()
            plain_page.goto(plain)
            plain_page.locator("#open").wait_for()
            figures["base load"].append(time.perf_counter() - started)
            context.close()
        page = browser.new_page(viewport={"width": 360, "height": 740})
        screen = Screen(page, "bench").open(url)
        screen.type("unlock-pin", PIN)
        screen.tap("unlock")
        screen.by_id("open-visit-1").wait_for(timeout=30000)
        for _ in range(runs):
            started = time.perf_counter()
            screen.by_id("open-visit-1").click()  # a bare click: no settling wait
            screen.by_id("do-sign_out").wait_for()
            figures["tap"].append(time.perf_counter() - started)
            screen.by_id("back").click()
            screen.by_id("open-visit-1").wait_for()
        figures["base tap"] = plain_clicks(page, plain, runs)
    hub.stop()
    print(f"Phone app in Chromium (360x740), {runs} of each; seconds")
    for name, samples in figures.items():
        p50, p95 = percentiles(samples)
        print(f"  {name:<10} p50 {p50:6.3f}   p95 {p95:6.3f}")
    for name, target in (("load", LOAD_TARGET), ("tap", TAP_TARGET)):
        p50, p95 = percentiles(figures[name])
        base50, _ = percentiles(figures[f"base {name}"])
        verdict = "meets" if p95 <= target else "MISSES"
        print(f"{name}: p50 {p50:.3f} s = {p50 / base50:.1f}x the plain page; p95 {p95:.3f} s "
              f"{verdict} the target of {target} s")


if __name__ == "__main__":
    main()
