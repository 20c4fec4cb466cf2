"""The real functions.js and task pane in headless Debian Chromium (Playwright), against the real
server on 127.0.0.1 over HTTPS, with office.js replaced by a CustomFunctions stand-in
(excel/tools/customfunctions-standin.js, ErrorCode values from Microsoft's
@types/custom-functions-runtime).

What this proves: our JavaScript, the server and the browser agree (values, error codes and
messages, one request for many cells, #N/A when the server is down, the task pane). What it does
not prove: how Excel itself loads the add-in, shows autocomplete or spills — see the checklist in
docs/spreadsheets.md.
"""
from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from llmcalc.excel import server
from llmcalc.registry import REGISTRY, by_sheet_name

from excel_fixtures import TOOLS, error_codes, live_server, serve_command, tls_files

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OFFICE_JS = "https://appsforoffice.microsoft.com/**"
ARTICLE3_DAYS = 33.81  # article 3: GPT-3 175B, 300B tokens, 1024 A100, 45% MFU → ≈34 days


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def standin_js():
    return (TOOLS / "customfunctions-standin.js").read_text().replace("__ERROR_CODES__", json.dumps(error_codes()))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def srv(tls):
    with live_server(server.create_app(), certfile=tls["cert"], keyfile=tls["key"]) as s:
        yield s


class Pane:
    """A task pane page with request and console bookkeeping."""

    def __init__(self, browser, standin_js, url, office_js=True, wait_for="#function-list tbody tr", viewport=None):
        self.context = browser.new_context(ignore_https_errors=True, **({"viewport": viewport} if viewport else {}))
        if office_js:
            self.context.route(OFFICE_JS, lambda route: route.fulfill(body=standin_js, content_type="text/javascript"))
        else:
            self.context.route(OFFICE_JS, lambda route: route.abort("namenotresolved"))
        self.page = self.context.new_page()
        self.batches, self.problems = [], []
        self.page.on("request", lambda r: self.batches.append(r.post_data_json)
                     if r.method == "POST" and r.url.endswith("/api/v1/batch") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type == "error" and "appsforoffice" not in m.text else None)
        self.page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation',"
                                  " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
        self.page.goto(f"{url}/taskpane.html")
        self.page.wait_for_selector(wait_for)

    def call(self, fid, *args):
        return self.page.evaluate("([id, args]) => __standin.call(id, args)", [fid, list(args)])

    def call_many(self, calls):
        return self.page.evaluate("calls => Promise.all(calls.map(c => __standin.call(c[0], c[1])))",
                                  [[c[0], list(c[1:])] for c in calls])

    def close(self):
        self.context.close()


@pytest.fixture
def pane(browser, standin_js, srv):
    p = Pane(browser, standin_js, srv.url)
    yield p
    assert p.page.evaluate("window.__csp") == []          # no Content-Security-Policy violations
    p.close()


def test_every_function_id_is_associated(pane, srv):
    ids = pane.page.evaluate("Object.keys(__standin.functions)")
    assert ids == [fn.sheet_name for fn in REGISTRY.values()]
    assert pane.page.text_content("#host-status") == "connected to Excel"
    assert pane.problems == []


def test_values_and_one_request_for_many_cells(pane):
    days = by_sheet_name("LLM_TRAIN_DAYS").sheet_value
    calls = [("LLM_TRAIN_DAYS", [[175e9]], [[300e9]], [[n]], "A100", None, None) for n in range(64, 64 * 41, 64)]
    calls += [("LLM_TRAIN_GPUS", [[175e9]], [[300e9]], [[30]], "A100"),
              ("LLM_GPU", "A100", None)]
    results = pane.call_many(calls)
    assert len(pane.batches) == 1                            # 42 cells, one POST /api/v1/batch
    assert len(pane.batches[0]["calls"]) == 42
    for (_, _, _, gpus, *_), r in zip(calls[:40], results[:40]):
        assert r == {"value": [[pytest.approx(days(175e9, 300e9, gpus[0][0], "A100"), rel=1e-12)]]}
    assert results[15]["value"][0][0] == pytest.approx(ARTICLE3_DAYS, abs=0.005)     # 1024 GPUs
    assert results[40] == {"value": [[1155]]}                # article 3: ≈1154 GPUs, whole GPUs
    assert results[41] == {"value": by_sheet_name("LLM_GPU").sheet_value("A100")}   # text, scalar
    # a single cell is sent as a value, an omitted optional argument is left out
    assert pane.batches[0]["calls"][15] == {"function": "LLM_TRAIN_DAYS", "args": [175e9, 300e9, 1024, "A100"]}


def test_a_range_of_gpu_counts_spills_a_column(pane):
    r = pane.call("LLM_TRAIN_DAYS", [[175e9]], [[300e9]], [[256], [512], [1024]], "A100", None, None)
    assert [row[0] for row in r["value"]] == [pytest.approx(135.247, abs=1e-3), pytest.approx(67.624, abs=1e-3),
                                              pytest.approx(ARTICLE3_DAYS, abs=0.005)]
    r = pane.call("LLM_TRAIN_DAYS", [[175e9]], [[300e9]], [[512, 1024]], "A100", None, None)
    assert len(r["value"]) == 1 and len(r["value"][0]) == 2


@pytest.mark.parametrize("args, code, fragment", [
    (([[175e9]], [[300e9]], [[-1]], "A100"), "#VALUE!", "argument 'gpus': must be > 0"),
    (([[175e9]], [[300e9]], [[0]], "A100"), "#VALUE!", "argument 'gpus': must be > 0"),
    (([[175e9]], [[300e9]], [[1024]], "A1000"), "#VALUE!", "argument 'gpu': unknown GPU 'A1000'"),
    (([["gpt-9"]], [[300e9]], [[1024]], "A100"), "#VALUE!", "argument 'params': unknown model"),
    (([[175e9]], [["300 GB"]], [[1024]], "A100"), "#VALUE!", "argument 'tokens'"),
    (([[175e9]], [[300e9]], [[1024]], "A100", [[45]]), "#VALUE!", "argument 'mfu'"),
])
def test_bad_input_gives_value_error_with_the_message(pane, args, code, fragment):
    r = pane.call("LLM_TRAIN_DAYS", *args)
    assert r["error"]["isCustomFunctionsError"] is True
    assert r["error"]["code"] == code
    assert fragment in r["error"]["message"]


def test_non_finite_result_is_num_error_without_a_message(pane):
    r = pane.call("LLM_COMM_SECONDS", [[1e30]], [[1e-300]], None)
    assert r["error"] == {"code": "#NUM!", "message": None, "isCustomFunctionsError": True}


def test_server_down_gives_na_with_a_message(browser, standin_js, tls):
    with live_server(server.create_app(), certfile=tls["cert"], keyfile=tls["key"]) as s:
        p = Pane(browser, standin_js, s.url)
        assert p.call("LLM_TRAIN_DAYS", [[175e9]], [[300e9]], [[1024]], "A100")["value"][0][0] == pytest.approx(
            ARTICLE3_DAYS, abs=0.005)
    try:                                                     # the server has stopped
        r1, r2 = p.call_many([("LLM_TRAIN_DAYS", [[175e9]], [[300e9]], [[1024]], "A100"),
                              ("LLM_TRAIN_GPUS", [[175e9]], [[300e9]], [[30]], "A100")])
        for r in (r1, r2):
            assert r["error"]["code"] == "#N/A" and r["error"]["isCustomFunctionsError"]
            assert "unreachable" in r["error"]["message"] and s.url in r["error"]["message"]
    finally:
        p.close()


def test_token_from_the_task_pane(browser, standin_js, tls):
    with live_server(server.create_app(token="pane-token"), certfile=tls["cert"], keyfile=tls["key"]) as s:
        p = Pane(browser, standin_js, s.url, wait_for="#error:not([hidden])")
        try:
            assert "needs a token" in p.page.text_content("#error")
            r = p.call("LLM_TRAIN_DAYS", [[175e9]], [[300e9]], [[1024]], "A100")
            assert r["error"]["code"] == "#N/A" and "token" in r["error"]["message"]
            p.page.fill("#token", "pane-token")                 # the settings are open already
            p.page.click("#token-form button")
            assert p.page.text_content("#token-status") == "saved"
            p.page.wait_for_selector("#function-list tbody tr")
            r = p.call("LLM_TRAIN_DAYS", [[175e9]], [[300e9]], [[1024]], "A100")
            assert r["value"][0][0] == pytest.approx(ARTICLE3_DAYS, abs=0.005)
        finally:
            p.close()


def test_task_pane_lists_functions_and_computes(pane):
    page = pane.page
    rows = page.locator("#function-list tbody tr")
    assert rows.count() == len(REGISTRY)
    assert page.input_value("#function") == "LLM_TRAIN_DAYS"
    assert page.input_value("#arg-gpus") == "1024"            # the registry's example, prefilled
    assert page.input_value("#arg-params") == "175B" and page.input_value("#arg-tokens") == "300B"  # not 175000000000
    page.wait_for_selector("#output:not([hidden])")           # and computed on load
    assert page.text_content("#result") == "33.81 days"                             # article 3
    # the cell keeps exact numbers
    assert page.text_content("#cell-formula") == '=LLM_TRAIN_DAYS(175000000000, 300000000000, 1024, "A100")'
    assert "大模型训练相关参数估算" in page.text_content("#sources")
    assert page.text_content("#inputs").startswith("params175B parameterstokens300B tokensgpus1,024 GPUs")
    page.fill("#arg-gpus", "-1")
    page.click("#compute")
    page.wait_for_selector("#error:not([hidden])")
    assert "argument 'gpus': must be > 0" in page.text_content("#error")
    # the error is also shown in place, under the argument it names
    assert page.get_attribute("#arg-gpus", "aria-invalid") == "true"
    assert page.text_content("#arg-gpus-error") == "must be > 0, got -1"
    page.fill("#arg-gpus", "1024")
    page.fill("#arg-mfu", "45%")                               # text with units works in the pane
    page.click("#compute")
    page.wait_for_selector("#output:not([hidden])")
    assert page.text_content("#result").startswith("33.81 day")
    assert page.get_attribute("#arg-gpus", "aria-invalid") is None and page.locator("#arg-gpus-error").count() == 0
    # the helpUrl of functions.json (#fn=NAME) selects a function
    page.evaluate("location.hash = '#fn=LLM_TRAIN_GPUS'")
    page.wait_for_function("document.getElementById('function').value === 'LLM_TRAIN_GPUS'")
    assert page.locator("#arg-days").count() == 1
    # the only console error is the browser logging the deliberate 400 for gpus = -1
    assert [x for x in pane.problems if "status of 400" not in x] == []


def _png_width(png: bytes) -> int:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big")


@pytest.mark.parametrize("width", [320, 350, 400])
def test_task_pane_fits_excels_task_pane_width(browser, standin_js, srv, width, tmp_path):
    """Excel's task pane is about 350 px wide (320–400): no sideways scrolling, in any state. A
    full-page screenshot is as wide as the page's content, so it must be exactly the pane's width
    (before the fix, 515 px at 350: the function table overflowed)."""
    p = Pane(browser, standin_js, srv.url, viewport={"width": width, "height": 800})
    try:
        page = p.page
        page.wait_for_selector("#output:not([hidden])")
        page.evaluate("document.querySelector('#output details').open = true")
        fits = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        assert page.evaluate(fits)
        shot = page.screenshot(path=str(tmp_path / f"taskpane-{width}.png"), full_page=True)
        assert _png_width(shot) == width
        page.evaluate("location.hash = '#fn=LLM_COST_PER_1K_TOKENS'")   # the longest signature and inputs
        page.wait_for_function("document.getElementById('function').value === 'LLM_COST_PER_1K_TOKENS'")
        for name, value in [("model", "70e9"), ("gpu", "A100-80GB"), ("kind", "prompt"), ("batch", "1"),
                            ("tokens", "512"), ("gpus", "2"), ("price", "$2.21/h"), ("dtype", "fp16"),
                            ("mfu", "200 TFLOP/s"), ("bandwidth_utilization", "1.3 TB/s")]:   # article 2
            page.fill(f"#arg-{name}", value)
        page.click("#compute")
        page.wait_for_selector("#output:not([hidden])")
        assert page.text_content("#result") == "$0.00043 per 1K tokens"                     # A2: $0.00042/1K
        page.fill("#arg-batch", "-3")
        page.click("#compute")
        page.wait_for_selector("#error:not([hidden])")
        assert page.evaluate(fits) and _png_width(page.screenshot(full_page=True)) == width
    finally:
        p.close()


def test_task_pane_shows_that_it_is_computing(pane):
    page = pane.page
    page.wait_for_selector("#output:not([hidden])")
    held = []
    page.route("**/api/v1/explain", lambda route: held.append(route))   # the server is slow to answer
    page.click("#compute")
    page.wait_for_selector("#busy:not([hidden])")
    assert page.text_content("#busy") == "Computing…" and page.is_disabled("#compute")
    assert page.text_content("#compute") == "Computing…" and page.is_hidden("#output")
    held[0].continue_()
    page.unroute("**/api/v1/explain")
    page.wait_for_selector("#output:not([hidden])")
    assert page.is_hidden("#busy") and page.is_enabled("#compute") and page.text_content("#compute") == "Compute"
    assert page.text_content("#result") == "33.81 days"


def test_task_pane_works_in_a_plain_browser_without_office_js(browser, standin_js, srv):
    p = Pane(browser, standin_js, srv.url, office_js=False)
    try:
        assert p.page.text_content("#host-status") == "in a browser"
        assert p.page.evaluate("typeof CustomFunctions") == "undefined"
        assert p.page.evaluate("Object.keys(llmcalcFunctions.functions).length") == len(REGISTRY)
        p.page.click("#compute")
        p.page.wait_for_selector("#output:not([hidden])")
        assert p.page.text_content("#result").startswith("33.81 day")
        assert [x for x in p.problems if "pageerror" in x] == []
    finally:
        p.close()


def test_a_new_user_runs_llmcalc_serve_and_opens_the_printed_url(browser, tmp_path):
    """The issue's 'done when': `llmcalc serve` (HTTPS, a generated certificate), the printed task
    pane URL in a plain browser (no office.js), LLM_TRAIN_DAYS computed on the page."""
    context = browser.new_context(ignore_https_errors=True)
    try:
        with serve_command(tmp_path) as (port, text):
            url = re.search(r"Task pane \(open in a browser\):\s+(\S+)", text).group(1)
            context.route(OFFICE_JS, lambda route: route.abort("namenotresolved"))
            page = context.new_page()
            for _ in range(100):
                try:
                    page.goto(url)
                    break
                except Exception:  # noqa: BLE001 - uvicorn still starting
                    time.sleep(0.1)
            page.wait_for_selector("#output:not([hidden])")
            assert page.text_content("#result").startswith("33.81 day")                 # article 3
            assert page.input_value("#function") == "LLM_TRAIN_DAYS"
            context.close()  # as a user closing the tab, before stopping the server
    finally:
        context.close()
