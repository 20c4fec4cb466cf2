"""Recalculate a spreadsheet in LibreOffice Calc (headless) and print cell results as JSON.

    /usr/bin/python3 excel/tools/lo_recalc.py BOOK.xlsx A1 A2 ...

Runs under Debian's /usr/bin/python3 (python3-uno binds only to it); the tests call it as a
subprocess. LibreOffice evaluates WEBSERVICE only for documents it trusts and only when links are
updated: this starts soffice with a throw-away profile whose SecureURL trusts the workbook's folder
and whose link-update mode is "always", loads the file through UNO with UpdateDocMode=FULL_UPDATE,
recalculates, and reads the first sheet's cells.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uno  # noqa: F401  (python3-uno)
from com.sun.star.beans import PropertyValue

PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="SecureURL" oor:op="fuse"><value><it>{folder}</it></value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Content/Update"><prop oor:name="Link" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="FirstRun" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
"""


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(book: str, cells: list[str]) -> int:
    book_path = Path(book).resolve()
    profile = Path(tempfile.mkdtemp(prefix="llmcalc-lo-"))
    (profile / "user").mkdir()
    (profile / "user" / "registrymodifications.xcu").write_text(PROFILE.format(folder=book_path.parent.as_uri()))
    port = free_port()
    soffice = subprocess.Popen(
        ["soffice", "--headless", "--invisible", "--nologo", "--norestore", "--nodefault", "--nolockcheck",
         f"-env:UserInstallation={profile.as_uri()}", f"--accept=socket,host=127.0.0.1,port={port};urp;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        deadline = time.time() + 90
        while True:
            try:
                ctx = resolver.resolve(f"uno:socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext")
                break
            except Exception:  # noqa: BLE001 - soffice still starting
                if time.time() > deadline or soffice.poll() is not None:
                    raise
                time.sleep(0.3)
        desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        doc = desktop.loadComponentFromURL(book_path.as_uri(), "_blank", 0,
                                           (prop("Hidden", True), prop("UpdateDocMode", 3)))
        doc.calculateAll()
        sheet = doc.Sheets.getByIndex(0)
        out = {}
        for ref in cells:
            cell = sheet.getCellRangeByName(ref)
            out[ref] = {"value": cell.getValue(), "string": cell.getString(), "error": cell.getError(),
                        "formula": cell.getFormula()}
        doc.close(True)
        try:
            desktop.terminate()
        except Exception:  # noqa: BLE001 - the bridge closes as soffice exits
            pass
        print(json.dumps(out))
        return 0
    finally:
        try:
            soffice.wait(timeout=20)
        except subprocess.TimeoutExpired:
            soffice.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
