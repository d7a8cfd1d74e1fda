"""THE browser test: Debian's Chromium (headless, via Playwright) shows the staff screen of a
real daemon subprocess fed over a real pty. A verdict appears within 300 ms of the
decision, and while a stream of verdicts flows the status bar and the warning box stay
visible and uncovered (sampled in the page every 25 ms, not checked on an idle page)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sim.serial_pty import SimSerialReader
from tests.device.daemon_kit import make_site
from tests.device.daemon_proc import DaemonProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREEN = {"width": 800, "height": 480}  # a common 7" kiosk panel
BUDGET_MS = 300.0

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package "
                "(scripts/setup-system.sh does it where it can)", allow_module_level=True)

#: In the page: every 25 ms, is each element shown, inside the viewport, and the one the
#: user sees at five points inside it (elementFromPoint: nothing drawn on top of it)?
SAMPLER = """() => {
  function check(id) {
    var el = document.getElementById(id);
    if (!el) return {shown: false, inView: false, covered: 5};
    var r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    var shown = r.width > 0 && r.height > 0 && cs.display !== "none" &&
      cs.visibility === "visible" && Number(cs.opacity) > 0.9;
    var inView = r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight + 0.5 &&
      r.right <= innerWidth + 0.5;
    var covered = 0;
    [[0.5, 0.5], [0.08, 0.5], [0.92, 0.5], [0.5, 0.2], [0.5, 0.8]].forEach(function (p) {
      var hit = document.elementFromPoint(r.left + r.width * p[0], r.top + r.height * p[1]);
      if (!hit || !(hit === el || el.contains(hit))) covered++;
    });
    return {shown: shown, inView: inView, covered: covered};
  }
  window.__samples = [];
  window.__sampler = setInterval(function () {
    var on = !document.getElementById("verdict").classList.contains("hidden");
    window.__samples.push({verdict: on, status: check("status"), warn: check("warn"),
                           head: on ? check("v-head-zh") : null,
                           today: document.getElementById("s-today").textContent});
  }, 25);
}"""

#: The verdict's content fits its row: nothing clipped, nothing outside the panel.
FITS = """() => {
  var v = document.getElementById("verdict"), vr = v.getBoundingClientRect();
  var w = v.querySelector(".words").getBoundingClientRect();
  var s = document.getElementById("status").getBoundingClientRect();
  return {clipped: v.scrollHeight > v.clientHeight + 1 || v.scrollWidth > v.clientWidth + 1,
          inside: w.top >= vr.top - 0.5 && w.bottom <= vr.bottom + 0.5 &&
                  w.left >= vr.left - 0.5 && w.right <= vr.right + 0.5,
          above_status: vr.bottom <= s.top + 0.5};
}"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, Any, Any,
                                                                        str]]:
    tmp = tmp_path_factory.mktemp("browser")
    reader = SimSerialReader(link_path=tmp / "ttyACM-sim")
    # A second reader that is not plugged in: the warning box shows SCANNER DISCONNECTED
    # for the whole module, while the first one scans.
    sources = (f'[[sources]]\ntype = "serial"\nport = "{reader.path}"\n'
               f'[[sources]]\ntype = "serial"\nport = "{tmp / "ttyUSB-unplugged"}"\n')
    path, keys = make_site(tmp, sources=sources, extra="[dedupe]\nwindow_s = 0.2\n")
    proc = DaemonProcess(path)
    try:
        url = proc.next_event("ready", 30)["screen"]
        end = time.monotonic() + 15
        while True:  # the plugged reader open and in sync (a code sent before is lost)
            st = httpx.get(url + "api/status", timeout=5).json()["sources"]
            if any(s["port"] == reader.path and s["connected"] and s["in_sync"] for s in st):
                break
            assert time.monotonic() < end, st
            time.sleep(0.05)
        yield proc, reader, keys, url
    finally:
        proc.terminate()
        proc.kill()
        reader.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Any, url: str, viewport: dict[str, int] = SCREEN) -> Any:
    pg = browser.new_page(viewport=viewport)
    pg.goto(url)
    pg.wait_for_function("window.__scangate && window.__scangate.status !== null",
                         timeout=10_000)
    return pg


@pytest.fixture(scope="module")
def page(daemon: tuple, browser: Any) -> Iterator[Any]:
    pg = open_page(browser, daemon[3])
    yield pg
    pg.close()


def show(page: Any, reader: SimSerialReader, payload: str, n: int) -> dict[str, Any]:
    """Scan a code; return the page's record of the n-th verdict it showed."""
    reader.send(payload)
    page.wait_for_function(f"window.__scangate.shown.length >= {n}", timeout=5_000)
    shown: dict[str, Any] = page.evaluate(f"window.__scangate.shown[{n - 1}]")
    return shown


def test_verdict_appears_within_300ms_and_status_shows_values(daemon: tuple, page: Any) -> None:
    _proc, reader, keys, _url = daemon
    issuer = keys.issuer()
    lags = []

    shown = show(page, reader, issuer.mint("green"), 1)
    assert shown["decision"] == "accept"
    lags.append(shown["shown_ms"] - shown["t_decision_ms"])
    assert page.locator("#verdict").get_attribute("class") == "verdict accept"
    assert page.inner_text("#v-mark") == "✓"
    # the decision, Chinese first; an accepted code's reason ("valid") is not repeated
    assert page.inner_text("#v-head-zh") == "通过" and page.inner_text("#v-head-en") == "PASS"
    assert page.inner_text("#v-zh") == "" and page.inner_text("#v-en") == ""
    assert "通过" not in page.inner_text("#v-meta")
    meta = page.inner_text("#v-meta")
    assert "scangate" in meta and "valid until" in meta and "绿码" in meta
    assert page.evaluate(FITS) == {"clipped": False, "inside": True, "above_status": True}
    page.screenshot(path="/tmp/scangate-screen-accept.png")

    shown = show(page, reader, issuer.mint("red"), 2)
    lags.append(shown["shown_ms"] - shown["t_decision_ms"])
    assert page.locator("#verdict").get_attribute("class") == "verdict deny"
    assert page.inner_text("#v-mark") == "✗"
    assert page.inner_text("#v-head-zh") == "拒绝" and page.inner_text("#v-head-en") == "DENIED"
    assert page.inner_text("#v-zh") == "红码" and page.inner_text("#v-en") == "Red status"
    page.screenshot(path="/tmp/scangate-screen-deny.png")

    for i in range(3, 8):
        shown = show(page, reader, issuer.mint("green"), i)
        lags.append(shown["shown_ms"] - shown["t_decision_ms"])
    print(f"decision -> DOM update: {', '.join(f'{x:.1f}' for x in lags)} ms")
    assert all(-50 < lag <= BUDGET_MS for lag in lags), lags

    # Back to "ready" after the display time (2 s in this config).
    page.wait_for_function("document.getElementById('verdict').className.includes('hidden')",
                           timeout=5_000)
    assert page.is_visible("#ready")
    # The status panel shows values pushed by the daemon.
    page.wait_for_function(
        "document.getElementById('s-today').textContent.includes('✓6')", timeout=5_000)
    assert page.inner_text("#s-trust").startswith("v1")
    assert page.inner_text("#s-online") == "未配置 off"
    assert page.inner_text("#s-backlog").split(" ")[0].isdigit()
    assert page.inner_text("#s-clock") in ("已同步 synced", "落后 behind (floor)", "未知 unsure")
    assert "reader ok" in page.inner_text("#s-sources")
    assert "reader off!" in page.inner_text("#s-sources")
    assert "SCANNER DISCONNECTED" in page.inner_text("#warn")
    assert "✗1" in page.inner_text("#s-today")
    page.screenshot(path="/tmp/scangate-screen-ready.png")
    assert Path("/tmp/scangate-screen-ready.png").stat().st_size > 1000


def test_status_and_warnings_stay_visible_while_verdicts_flow(daemon: tuple, page: Any) -> None:
    # The demo's failure: the verdict overlay covered the status bar and the warning box
    # for 3-4 s per scan, so during a flow of scans they were visible in 0 of 195
    # samples. Here: a scan every 60 ms for ~3 s, every sample must see both, uncovered.
    _proc, reader, keys, _url = daemon
    issuer = keys.issuer()
    payloads = [issuer.mint("red" if i % 4 == 3 else "green") if i % 7 else "not a code"
                for i in range(50)]
    n0 = page.evaluate("window.__scangate.shown.length")
    page.evaluate(SAMPLER)

    def scan_all() -> None:
        for p in payloads:
            reader.send(p)
            time.sleep(0.06)

    t = threading.Thread(target=scan_all)
    t.start()
    try:
        time.sleep(1.5)
        page.screenshot(path="/tmp/scangate-screen-stream.png")
    finally:
        t.join(30)
    page.wait_for_function(f"window.__scangate.shown.length >= {n0 + len(payloads)}",
                           timeout=10_000)
    samples: list[dict[str, Any]] = page.evaluate(
        "() => { clearInterval(window.__sampler); return window.__samples; }")
    during = [s for s in samples if s["verdict"]]
    assert len(during) >= 30, f"only {len(during)} samples with a verdict on show"
    bad = [s for s in samples
           if not (s["status"]["shown"] and s["status"]["inView"] and not s["status"]["covered"]
                   and s["warn"]["shown"] and s["warn"]["inView"] and not s["warn"]["covered"])]
    assert bad == [], f"{len(bad)} of {len(samples)} samples: {bad[:3]}"
    # and the verdict itself was readable in every sample it was on show
    unreadable = [s for s in during if not s["head"]["shown"] or s["head"]["covered"]]
    assert unreadable == [], f"{len(unreadable)} of {len(during)}: {unreadable[:3]}"
    # the status bar kept updating during the flow (today's counts)
    assert len({s["today"] for s in during}) > 1
    print(f"{len(samples)} samples, {len(during)} with a verdict on show: status and "
          "warnings visible in all")


def test_the_verdict_fits_other_screens(daemon: tuple, browser: Any) -> None:
    _proc, reader, keys, url = daemon
    code = keys.issuer().mint("green")
    for viewport in ({"width": 1024, "height": 600}, {"width": 480, "height": 800},
                     {"width": 1920, "height": 1080}):
        pg = open_page(browser, url, viewport)
        try:
            n = pg.evaluate("window.__scangate.shown.length")
            reader.send(code)
            pg.wait_for_function(f"window.__scangate.shown.length >= {n + 1}", timeout=5_000)
            time.sleep(0.3)
            reader.send(code)  # again after the de-dup window: anti-passback, a long reason
            pg.wait_for_function(f"window.__scangate.shown.length >= {n + 2}", timeout=5_000)
            assert pg.inner_text("#v-en") == "Code just used here (possible screenshot)"
            assert pg.evaluate(FITS) == {"clipped": False, "inside": True, "above_status": True}
            name = f"/tmp/scangate-screen-{viewport['width']}x{viewport['height']}.png"
            pg.screenshot(path=name)
        finally:
            pg.close()
        code = keys.issuer().mint("green")


def test_a_reloaded_page_shows_the_verdict_still_on_display(daemon: tuple, page: Any) -> None:
    _proc, reader, keys, _url = daemon
    n = page.evaluate("window.__scangate.shown.length")
    show(page, reader, keys.issuer().mint("red"), n + 1)
    page.reload()
    page.wait_for_function("window.__scangate && window.__scangate.shown.length >= 1",
                           timeout=5_000)
    assert page.locator("#verdict").get_attribute("class") == "verdict deny"
    assert page.inner_text("#v-en") == "Red status"


#: The three rows with and without a warning, with the ready prompt or a verdict on show.
ROWS = """() => {
  var w = document.getElementById("warn"), v = document.getElementById("verdict"),
      ready = document.getElementById("ready"), st = document.getElementById("status");
  var saved = [w.className, w.textContent, v.className, ready.hidden];
  var out = [];
  [true, false].forEach(function (warning) {
    [false, true].forEach(function (verdict) {
      w.className = warning ? "warnbox" : "warnbox hidden";
      w.textContent = warning ? "扫码设备断开 · SCANNER DISCONNECTED" : "";
      v.className = verdict ? "verdict deny" : "verdict hidden";
      ready.hidden = verdict;
      var shown = (verdict ? v : ready).getBoundingClientRect();
      var s = st.getBoundingClientRect(), wr = w.getBoundingClientRect();
      out.push({warning: warning, verdict: verdict,
                middle_tall: shown.height >= innerHeight * 0.5,
                status_at_bottom: Math.abs(s.bottom - innerHeight) < 1 &&
                                  s.height < innerHeight * 0.25,
                middle_between: shown.top >= (warning ? wr.bottom : 0) - 0.5 &&
                                shown.bottom <= s.top + 0.5});
    });
  });
  w.className = saved[0]; w.textContent = saved[1]; v.className = saved[2];
  ready.hidden = saved[3];
  return out;
}"""


def test_the_rows_hold_with_and_without_a_warning(daemon: tuple, browser: Any) -> None:
    """A healthy terminal shows no warning: the middle row must still fill the screen and
    the status bar stay at the bottom (a hidden warning box once let the status bar take
    the whole screen; every other test here has a warning on show)."""
    for viewport in (SCREEN, {"width": 1024, "height": 600}, {"width": 480, "height": 800}):
        pg = open_page(browser, daemon[3], viewport)
        try:
            rows = pg.evaluate(ROWS)
        finally:
            pg.close()
        bad = [r for r in rows if not (r["middle_tall"] and r["status_at_bottom"]
                                       and r["middle_between"])]
        assert bad == [], (viewport, bad)
