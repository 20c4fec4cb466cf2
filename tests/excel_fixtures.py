"""Shared helpers for the spreadsheet tests (server in a thread, TLS files, Node tools, samples).

Imported by tests/test_excel_*.py, test_libreoffice.py and test_sheets_clients.py; it is not a
conftest so that it stays owned by the spreadsheet work.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "excel" / "tools"

def sample_args(fn) -> tuple:
    """Arguments of a call of ``fn`` in spreadsheet order: its first registry example."""
    return tuple(fn.positional(fn.examples[0]))


def query_text(value) -> str:
    """How a spreadsheet user would type a value into the plain-text URL."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The real app under uvicorn on 127.0.0.1 in a thread (HTTP, or HTTPS with given files)."""

    def __init__(self, app, certfile: str | None = None, keyfile: str | None = None, port: int | None = None):
        import uvicorn

        self.port = port or free_port()
        scheme = "https" if certfile else "http"
        self.url = f"{scheme}://{'localhost' if certfile else '127.0.0.1'}:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                                lifespan="off", ssl_certfile=certfile, ssl_keyfile=keyfile)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "LiveServer":
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def live_server(app, **kw):
    srv = LiveServer(app, **kw).start()
    try:
        yield srv
    finally:
        srv.stop()


def tls_files(directory: Path) -> dict:
    """A throw-away CA (trustme) and a certificate for localhost/127.0.0.1 signed by it."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    files = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    ca.cert_pem.write_to_path(files["ca"])
    cert.private_key_pem.write_to_path(files["key"])
    with open(files["cert"], "wb") as fh:
        for blob in cert.cert_chain_pems:
            fh.write(blob.bytes())
    return {k: str(v) for k, v in files.items()}


def node_tools() -> Path:
    """excel/tools with its pinned npm packages installed (scripts/test.sh runs `npm ci` there)."""
    if shutil.which("node") is None:
        pytest.fail("node is not installed (scripts/test.sh installs nodejs)")
    if not (TOOLS / "node_modules" / "custom-functions-metadata").is_dir():
        pytest.fail("Microsoft's npm tools are missing: run `npm ci` in excel/tools (scripts/test.sh does)")
    return TOOLS


def run_node(script: str, *args: str, input_text: str | None = None, timeout: float = 60) -> str:
    tools = node_tools()
    proc = subprocess.run(["node", str(tools / script), *args], cwd=tools, input=input_text, text=True,
                          capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"node {script} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def error_codes() -> dict:
    """CustomFunctions.ErrorCode as Microsoft's @types/custom-functions-runtime declares it."""
    text = (node_tools() / "node_modules" / "@types" / "custom-functions-runtime" / "index.d.ts").read_text()
    import re

    start = text.index("enum ErrorCode")
    block = text[start:text.index("}", start)]
    codes = dict(re.findall(r'(\w+)\s*=\s*"([^"]+)"', block))
    assert codes.get("invalidValue") == "#VALUE!" and codes.get("notAvailable") == "#N/A", codes
    return codes


def json_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def env_without_proxies() -> dict:
    env = dict(os.environ)
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(k, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


@contextmanager
def serve_command(home: Path, *args: str):
    """Run `llmcalc serve` as a user would (through the CLI), with HOME and the certificate folder
    in ``home`` (so no Office dev certificates: it generates one). Yields (port, printed text) once
    the banner is printed; stops the server afterwards."""
    port = free_port()
    env = env_without_proxies() | {"HOME": str(home), "LLMCALC_CERT_DIR": str(home / "certs"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "llmcalc.cli", "serve", "--port", str(port), *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        text, deadline = "", time.time() + 60
        while "Then type" not in text and proc.poll() is None and time.time() < deadline:
            text += proc.stdout.readline()
        yield port, text
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # never leave a server behind, even if shutdown hangs
            proc.kill()
            proc.wait(timeout=10)
            raise
