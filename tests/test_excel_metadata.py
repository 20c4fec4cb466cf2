"""functions.json, functions.js and manifest.xml: checked against the documented rules, against
Microsoft's own custom-functions-metadata parser and office-addin-manifest reader (npm, pinned in
excel/tools/package-lock.json), and against the registry."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import httpx
import pytest

from llmcalc.excel import metadata, server
from llmcalc.registry import REGISTRY

from excel_fixtures import live_server, run_node

BASE = "https://localhost:3000"
NS = {"o": "http://schemas.microsoft.com/office/appforoffice/1.1",
      "ov": "http://schemas.microsoft.com/office/taskpaneappversionoverrides",
      "bt": "http://schemas.microsoft.com/office/officeappbasictypes/1.0",
      "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@pytest.fixture(scope="module")
def client():
    with live_server(server.create_app(base_url=BASE)) as srv, \
            httpx.Client(base_url=srv.url, trust_env=False, follow_redirects=True) as c:
        yield c


@pytest.fixture(scope="module")
def functions_json(client):
    return client.get("/functions.json").json()


# ------------------------------------------------------------------ functions.json


def test_functions_json_follows_the_documented_rules(functions_json):
    fns = functions_json["functions"]
    ids = [f["id"] for f in fns]
    assert len(ids) == len(set(ids))
    for f in fns:
        # id: A-Z, 0-9, _ and . ; starts with a letter; at least 3 characters (Microsoft's rules)
        assert re.fullmatch(r"[A-Z][A-Z0-9_.]{2,}", f["id"]), f["id"]
        assert f["name"] == f["id"] and f["name"].startswith("LLM_")          # no namespace prefix
        assert 0 < len(f["description"]) <= 255
        assert f["helpUrl"].startswith(BASE + "/taskpane.html#fn=")
        seen_optional = False
        for p in f["parameters"]:
            assert set(p) <= {"name", "description", "type", "dimensionality", "optional", "repeating"}
            assert re.fullmatch(r"[a-z][a-z0-9_]*", p["name"])
            assert p["type"] in {"boolean", "number", "string", "any"}
            assert p["dimensionality"] in {"scalar", "matrix"}
            assert 0 < len(p["description"]) <= 255
            if p.get("optional"):
                seen_optional = True
            else:
                assert not seen_optional, f"{f['id']}: required {p['name']} after an optional parameter"
        assert f["result"]["type"] in {"boolean", "number", "string", "any"}
        assert f["result"]["dimensionality"] in {"scalar", "matrix"}
        # a function taking a range must return a matrix, or a range of GPU counts could not spill
        if any(p["dimensionality"] == "matrix" for p in f["parameters"]):
            assert f["result"]["dimensionality"] == "matrix"
        assert "options" not in f or not (f["options"].get("stream") and f["options"].get("cancelable"))


def test_functions_json_is_the_registry(functions_json):
    by_id = {f["id"]: f for f in functions_json["functions"]}
    assert list(by_id) == [fn.sheet_name for fn in REGISTRY.values()]
    for fn in REGISTRY.values():
        f = by_id[fn.sheet_name]
        assert [p["name"] for p in f["parameters"]] == [a.name for a in fn.args]
        assert [bool(p.get("optional")) for p in f["parameters"]] == [a.optional for a in fn.args]
        assert f["description"].startswith(fn.summary)
    days = by_id["LLM_TRAIN_DAYS"]
    kinds = {p["name"]: (p["type"], p["dimensionality"]) for p in days["parameters"]}
    assert kinds["gpus"] == ("any", "matrix")          # a range of GPU counts; text with units allowed
    assert kinds["gpu"] == ("string", "scalar")
    assert days["result"] == {"type": "number", "dimensionality": "matrix"}
    assert "[day]" not in days["description"] and "day" in days["description"]


def _normalise(f: dict) -> dict:
    """Microsoft's parser omits defaults (scalar dimensionality, any result type); fill them in."""
    params = [{"name": p["name"], "type": p.get("type", "any"), "dimensionality": p.get("dimensionality", "scalar"),
               "optional": bool(p.get("optional")), "description": p.get("description", "")}
              for p in f.get("parameters", [])]
    return {"id": f["id"], "name": f["name"], "description": f.get("description", ""),
            "helpUrl": f.get("helpUrl"), "parameters": params,
            "result": {"type": f.get("result", {}).get("type", "any"),
                       "dimensionality": f.get("result", {}).get("dimensionality", "scalar")}}


def test_microsofts_parser_agrees_with_our_functions_json(functions_json, tmp_path):
    """The registry written as JSDoc (Microsoft's authoring format) and parsed by Microsoft's
    custom-functions-metadata gives exactly our functions.json, with no annotation errors."""
    src = tmp_path / "functions.js"
    src.write_text(metadata.jsdoc_source(BASE), encoding="utf-8")
    out = json.loads(run_node("check_metadata.js", str(src)))
    assert out["errors"] == []
    theirs = [_normalise(f) for f in out["metadata"]["functions"]]
    ours = [_normalise(f) for f in functions_json["functions"]]
    assert theirs == ours
    assert [a["id"] for a in out["associate"]] == [f["id"] for f in functions_json["functions"]]


def test_microsofts_parser_rejects_a_broken_id(tmp_path):
    """The cross-check can fail: Microsoft's parser reports an id that breaks the rules."""
    src = tmp_path / "bad.js"
    src.write_text("/**\n * Bad.\n * @customfunction LL-M\n * @param {number} x x\n * @returns {number} y\n */\n"
                   "function bad(x) {}\n", encoding="utf-8")
    out = json.loads(run_node("check_metadata.js", str(src)))
    assert out["errors"], out


def test_every_id_is_associated_in_functions_js(client, functions_json):
    out = json.loads(run_node("associations.js", input_text=client.get("/functions.js").text))
    assert out["associated"] == [f["id"] for f in functions_json["functions"]]
    table = {f["id"]: f for f in out["table"]["functions"]}
    for f in functions_json["functions"]:
        assert table[f["id"]]["params"] == [p["name"] for p in f["parameters"]]
        assert table[f["id"]]["matrix"] == (f["result"]["dimensionality"] == "matrix")


# ------------------------------------------------------------------ manifest.xml


@pytest.fixture(scope="module")
def manifest(client):
    text = client.get("/manifest.xml").text
    return text, ET.fromstring(text.encode())


def _local(tag: str) -> str:
    return tag.split("}", 1)[1]


def test_manifest_structure(manifest, client):
    text, root = manifest
    assert _local(root.tag) == "OfficeApp" and root.get(XSI_TYPE) == "TaskPaneApp"
    # element order of the OfficeApp schema (TaskPaneApp)
    order = [_local(c.tag) for c in root]
    assert order == ["Id", "Version", "ProviderName", "DefaultLocale", "DisplayName", "Description", "IconUrl",
                     "HighResolutionIconUrl", "SupportUrl", "AppDomains", "Hosts", "Requirements",
                     "DefaultSettings", "Permissions", "VersionOverrides"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", root.findtext("o:Id", namespaces=NS))
    assert re.fullmatch(r"\d+(\.\d+){0,3}", root.findtext("o:Version", namespaces=NS))
    assert len(root.find("o:DisplayName", NS).get("DefaultValue")) <= 125
    assert len(root.find("o:Description", NS).get("DefaultValue")) <= 250
    assert [h.get("Name") for h in root.findall("o:Hosts/o:Host", NS)] == ["Workbook"]
    sets = {s.get("Name"): s.get("MinVersion") for s in root.findall("o:Requirements/o:Sets/o:Set", NS)}
    assert sets == {"SharedRuntime": "1.1"}

    vo = root.find("ov:VersionOverrides", NS)
    assert vo.get(XSI_TYPE) == "VersionOverridesV1_0"
    host = vo.find("ov:Hosts/ov:Host", NS)
    assert host.get(XSI_TYPE) == "Workbook"
    assert [_local(c.tag) for c in host] == ["Runtimes", "AllFormFactors", "DesktopFormFactor"]
    urls = {u.get("id"): u.get("DefaultValue") for u in vo.findall("ov:Resources/bt:Urls/bt:Url", NS)}
    images = {u.get("id"): u.get("DefaultValue") for u in vo.findall("ov:Resources/bt:Images/bt:Image", NS)}
    strings = {u.get("id") for kind in ("ShortStrings", "LongStrings")
               for u in vo.findall(f"ov:Resources/bt:{kind}/bt:String", NS)}
    runtime = host.find("ov:Runtimes/ov:Runtime", NS)
    assert runtime.get("lifetime") == "long"
    cf = host.find("ov:AllFormFactors/ov:ExtensionPoint", NS)
    assert cf.get(XSI_TYPE) == "CustomFunctions"
    assert cf.find("ov:Namespace", NS) is None                      # =LLM_TRAIN_DAYS, no prefix
    resid = {part: cf.find(f"ov:{part}/ov:SourceLocation", NS).get("resid") for part in ("Script", "Page", "Metadata")}
    assert urls[resid["Script"]] == f"{BASE}/functions.js"
    assert urls[resid["Metadata"]] == f"{BASE}/functions.json"
    # shared runtime: the custom-functions page, the runtime and the task pane are one page
    assert urls[resid["Page"]] == urls[runtime.get("resid")] == f"{BASE}/taskpane.html"
    dff = host.find("ov:DesktopFormFactor", NS)
    assert dff.find("ov:FunctionFile", NS).get("resid") == runtime.get("resid")
    action = dff.find(".//ov:Action", NS)
    assert action.get(XSI_TYPE) == "ShowTaskpane"
    assert action.find("ov:SourceLocation", NS).get("resid") == runtime.get("resid")

    # every resid refers to a defined resource and is at most 32 characters
    for el in root.iter():
        ref = el.get("resid")
        if ref is not None:
            assert len(ref) <= 32 and (ref in urls or ref in images or ref in strings), ref
    # every URL is HTTPS on the add-in's own origin and answers
    all_urls = [u for u in re.findall(r'(?:DefaultValue="|<AppDomain>)(https?://[^"<]+)', text)]
    assert all_urls and all(u.startswith(BASE) for u in all_urls)
    for u in set(all_urls):
        path = u[len(BASE):] or "/"
        r = client.get(path.split("#")[0])
        assert r.status_code == 200, u
    for size_id, url in images.items():
        size = int(re.search(r"(\d+)x\1", size_id).group(1))
        png = client.get(url[len(BASE):]).content
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == size


def test_microsofts_manifest_reader_parses_it(manifest, tmp_path):
    text, _ = manifest
    path = tmp_path / "manifest.xml"
    path.write_text(text, encoding="utf-8")
    info = json.loads(run_node("manifest_info.js", str(path)))
    assert info["id"] == "d8232d9f-8378-4a74-8ea2-0a4f3efd123e"
    assert info["officeAppType"] == "TaskPaneApp" and info["hosts"] == ["Workbook"]
    assert info["defaultSettings"]["sourceLocation"] == f"{BASE}/taskpane.html"
    assert info["appDomains"] == [BASE] and info["manifestType"] == "xml"
    assert info["displayName"] == "llmcalc LLM cost functions"


def test_base_url_renders_a_manifest_for_a_company_host():
    with live_server(server.create_app(base_url="https://llm.example.com/tools/llmcalc/")) as srv, \
            httpx.Client(base_url=srv.url, trust_env=False) as c:
        text = c.get("/manifest.xml").text
        assert "localhost" not in text and "127.0.0.1" not in text
        assert 'DefaultValue="https://llm.example.com/tools/llmcalc/functions.json"' in text
        assert "<AppDomain>https://llm.example.com</AppDomain>" in text
        help_url = c.get("/functions.json").json()["functions"][0]["helpUrl"]
        assert help_url.startswith("https://llm.example.com/tools/llmcalc/taskpane.html#fn=")
    ET.fromstring(text.encode())


def test_without_base_url_the_manifest_follows_the_request_host():
    """…of an allowed host (any other Host header is refused: DNS rebinding)."""
    with live_server(server.create_app(allowed_hosts=["addin.example.org"])) as srv, httpx.Client(trust_env=False) as c:
        text = c.get(f"{srv.url}/manifest.xml", headers={"Host": "addin.example.org:4443"}).text
    assert 'DefaultValue="http://addin.example.org:4443/functions.js"' in text
