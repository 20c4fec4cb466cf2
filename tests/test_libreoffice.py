"""LibreOffice Calc (Debian's libreoffice-calc-nogui + python3-uno, headless) recalculating a
workbook whose cells call the server's plain-text endpoint with WEBSERVICE(), over HTTP on
127.0.0.1. LibreOffice is driven through excel/tools/lo_recalc.py under /usr/bin/python3."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import Workbook

from llmcalc.excel import server
from llmcalc.excel.clients import webservice_url
from llmcalc.registry import by_sheet_name

from excel_fixtures import TOOLS, env_without_proxies, live_server

pytestmark = pytest.mark.slow
SYSTEM_PYTHON = "/usr/bin/python3"


def recalc(book: Path, cells: list[str]) -> dict:
    if shutil.which("soffice") is None or not Path("/usr/lib/python3/dist-packages/uno.py").exists():
        pytest.fail("LibreOffice is missing: apt-get install libreoffice-calc-nogui python3-uno "
                    "(scripts/test.sh does)")
    proc = subprocess.run([SYSTEM_PYTHON, str(TOOLS / "lo_recalc.py"), str(book), *cells], capture_output=True,
                          text=True, timeout=240, env=env_without_proxies())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_webservice_formulas_recalculate_in_libreoffice(tmp_path):
    with live_server(server.create_app()) as srv:
        url = lambda fn, **a: webservice_url(srv.url, fn, **a)  # noqa: E731
        wb = Workbook()
        ws = wb.active
        # What a LibreOffice user types (docs/spreadsheets.md); in .xlsx the functions carry _xlfn.
        ws["A1"] = f'=_xlfn.NUMBERVALUE(_xlfn.WEBSERVICE("{url("LLM_TRAIN_DAYS", params="175e9", tokens="300e9", gpus=1024, gpu="A100")}"),".")'
        ws["A2"] = f'=_xlfn.WEBSERVICE("{url("LLM_TRAIN_DAYS", params="175e9", tokens="300e9", gpus=-1, gpu="A100")}")'
        ws["A3"] = "=A1*24"
        ws["A4"] = (f'=_xlfn.NUMBERVALUE(_xlfn.WEBSERVICE("{url("LLM_TRAIN_COST", params="175e9", tokens="300e9", gpu="A100")}'
                    '&price="&_xlfn.ENCODEURL("$2.21/h")),".")')
        ws["A5"] = f'=_xlfn.WEBSERVICE("{url("LLM_TRAIN_GPUS", params="175B", tokens="300B", days=30, gpu="A100")}")'
        ws["A6"] = f'=_xlfn.WEBSERVICE("{url("LLM_NO_SUCH_FUNCTION", x=1)}")'
        book = tmp_path / "webservice.xlsx"
        wb.save(book)
        cells = recalc(book, ["A1", "A2", "A3", "A4", "A5", "A6"])
    assert cells["A1"]["error"] == 0
    assert cells["A1"]["value"] == pytest.approx(33.81, abs=0.005)                       # article 3
    assert cells["A1"]["value"] == pytest.approx(by_sheet_name("LLM_TRAIN_DAYS").sheet_value(175e9, 300e9, 1024, "A100"),
                                                 rel=1e-12)
    assert cells["A2"]["error"] != 0                     # the server answered 400: an error cell, not a number
    assert cells["A3"]["value"] == pytest.approx(cells["A1"]["value"] * 24, rel=1e-12)
    assert cells["A4"]["value"] == pytest.approx(by_sheet_name("LLM_TRAIN_COST").sheet_value(175e9, 300e9, "A100", 2.21),
                                                 rel=1e-12)
    assert cells["A5"]["string"] == "1155"                                                 # article 3
    assert cells["A6"]["error"] != 0                     # 404
