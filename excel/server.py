"""``llmcalc serve``: run the spreadsheet add-in server (the app itself is :mod:`llmcalc.excel.app`).

HTTPS on https://localhost:3000 by default (Office loads add-ins over HTTPS only), with a TLS
certificate chosen by :mod:`llmcalc.excel.certs`; ``--http`` for loopback-only plain HTTP. The
uvicorn settings that keep slow or hostile clients in check are in :func:`uvicorn_options`:
proxy headers are handled by the app (only from ``--trusted-proxy`` addresses), and
:class:`HeaderTimeoutProtocol` closes a connection whose request headers do not arrive in time.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

import llmcalc

from . import manifest
from .app import create_app, default_allowed_hosts, valid_base_url
from .compute import Limits
from .middleware import is_local_host

DEFAULT_PORT = 3000

__all__ = ["create_app", "app_from_env", "main", "uvicorn_options", "HeaderTimeoutProtocol"]


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a time limit for receiving each request's headers.

    uvicorn closes idle keep-alive connections, but waits for ever for a request head that arrives
    a byte at a time, or not at all on a fresh connection: a few hundred such connections would
    hold the server's file descriptors. Here the head must be complete within
    ``header_timeout_s`` of the connection opening, or of the previous response."""

    header_timeout_s = Limits.header_timeout_s
    _header_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a whole request head has been read
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # for the next request on this keep-alive connection

    def connection_lost(self, exc) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(limits: Limits) -> dict:
    """uvicorn settings for this server (also used by the tests' live server)."""
    protocol = HeaderTimeoutProtocol
    if limits.header_timeout_s != HeaderTimeoutProtocol.header_timeout_s:  # a one-process server (tests)
        protocol = type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": limits.header_timeout_s})
    return dict(http=protocol, proxy_headers=False, server_header=False, access_log=False, timeout_keep_alive=5,
                h11_max_incomplete_event_size=16 * 1024)


_handler: logging.Handler | None = None  # the one handler `llmcalc serve` gives the "llmcalc" loggers


def configure_logging(level: str = "info") -> None:
    """Access and error lines to stderr, one message per line (the access lines are JSON)."""
    global _handler
    logger = logging.getLogger("llmcalc")
    if _handler is None:
        _handler = logging.StreamHandler()
        _handler.setFormatter(logging.Formatter("%(message)s"))
    if _handler not in logger.handlers:
        logger.addHandler(_handler)
    logger.setLevel(getattr(logging, level.upper()))


def _env_list(name: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


def app_from_env():
    """Factory for ``uvicorn --factory`` / several workers: configuration from the environment
    (``LLMCALC_TOKEN``, ``LLMCALC_BASE_URL``, and comma-separated ``LLMCALC_ALLOWED_ORIGINS``,
    ``LLMCALC_ALLOWED_HOSTS``, ``LLMCALC_TRUSTED_PROXIES``; ``LLMCALC_PROCESSES``,
    ``LLMCALC_LOG_LEVEL``)."""
    configure_logging(os.environ.get("LLMCALC_LOG_LEVEL", "info"))
    processes = os.environ.get("LLMCALC_PROCESSES", "")
    return create_app(token=os.environ.get("LLMCALC_TOKEN") or None,
                      allowed_origins=_env_list("LLMCALC_ALLOWED_ORIGINS") or None,
                      base_url=os.environ.get("LLMCALC_BASE_URL") or None,
                      allowed_hosts=_env_list("LLMCALC_ALLOWED_HOSTS"),
                      trusted_proxies=_env_list("LLMCALC_TRUSTED_PROXIES"),
                      processes=int(processes) if processes.isdigit() else None)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmcalc serve",
        description="Serve the llmcalc spreadsheet add-in (Excel custom functions, task pane, API) "
                    "on https://localhost:3000.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--http", action="store_true",
                   help="plain HTTP, loopback only (browsers, LibreOffice, tests; Office needs HTTPS)")
    p.add_argument("--cert", help="TLS certificate (PEM); default: Office dev certs, else a generated one")
    p.add_argument("--key", help="TLS private key (PEM) for --cert")
    p.add_argument("--base-url", help="public URL the manifest points to (e.g. https://llm.example.com)")
    p.add_argument("--token-file", help="file holding the bearer token (or set LLMCALC_TOKEN)")
    p.add_argument("--allowed-origin", action="append", default=[],
                   help="extra origin allowed to call the API cross-origin (repeatable)")
    p.add_argument("--allowed-host", action="append", default=[],
                   help="extra Host name the server answers (repeatable; default: localhost names, --base-url's "
                        "host and --host; '*' for any)")
    p.add_argument("--trusted-proxy", action="append", default=[],
                   help="address or network of a reverse proxy whose X-Forwarded-For/-Proto headers are believed "
                        "(repeatable; default: none)")
    p.add_argument("--processes", type=int, help="worker processes that compute (default: one per core, 2 to 8)")
    p.add_argument("--workers", type=int, default=1, help="server processes (the server is stateless)")
    p.add_argument("--write-manifest", metavar="FILE", help="also write the manifest to FILE")
    p.add_argument("--print-manifest", action="store_true", help="print the manifest and exit")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


SIDELOAD = """\
Sideload the add-in from a manifest file: save it with `llmcalc serve --print-manifest > manifest.xml`
(add the same --base-url/--port), or from the manifest URL in a browser.
  Excel on the web: Home > Add-ins > More Settings (or Advanced) > Upload My Add-in > choose manifest.xml.
  Excel on Mac:     copy manifest.xml to ~/Library/Containers/com.microsoft.Excel/Data/Documents/wef/
                    (create the folder if needed), restart Excel, then Home > Add-ins > llmcalc.
  Excel on Windows: npx office-addin-debugging start manifest.xml desktop   (or a shared-folder
                    catalog: File > Options > Trust Center > Trusted Add-in Catalogs).
Then type =LLM_TRAIN_DAYS(175e9, 300e9, 1024, "A100") in a cell (33.81 days)."""


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from . import certs

    local = is_local_host(ns.host)
    scheme = "http" if ns.http else "https"
    try:
        base_url = valid_base_url(ns.base_url) if ns.base_url else None
    except ValueError as exc:
        print(f"llmcalc serve: {exc}", file=sys.stderr)
        return 2
    shown_host = "localhost" if local else ns.host
    url = f"{scheme}://{shown_host}:{ns.port}"
    public = base_url or url
    if ns.print_manifest:
        sys.stdout.write(manifest.render(public))
        return 0
    if ns.http and not local:
        print("llmcalc serve: --http is for loopback only (Office needs HTTPS); use --cert/--key, or a TLS "
              "reverse proxy in front of a loopback --http server", file=sys.stderr)
        return 2
    token = os.environ.get("LLMCALC_TOKEN") or None
    if ns.token_file:
        with open(ns.token_file, encoding="utf-8") as fh:
            token = fh.read().strip() or None
    cert = None
    if not ns.http:
        try:
            cert = certs.choose(ns.cert, ns.key)
        except certs.CertificateError as exc:
            print(f"llmcalc serve: {exc}", file=sys.stderr)
            return 2
    if ns.write_manifest:
        with open(ns.write_manifest, "w", encoding="utf-8") as fh:
            fh.write(manifest.render(public))
    wildcard = ns.host in ("0.0.0.0", "::", "")
    hosts = ns.allowed_host + ([] if local or wildcard else [ns.host])

    lines = [f"llmcalc {llmcalc.__version__} spreadsheet add-in server on {url}"]
    if cert:
        lines.append(f"  TLS certificate: {cert.certfile} ({cert.source})")
        if cert.trust_help:
            lines.append(cert.trust_help)
    lines += ["",
              f"  Task pane (open in a browser): {public}/taskpane.html",
              f"  Manifest for Excel:            {public}/manifest.xml"
              + (f"  (written to {ns.write_manifest})" if ns.write_manifest else ""),
              f"  Plain-text API:                {public}/api/v1/call/LLM_TRAIN_DAYS?params=175e9&tokens=300e9&gpus=1024&gpu=A100",
              f"  Google Sheets script:          {public}/clients/llmcalc.gs"
              + ("" if base_url else "  (Sheets needs a public HTTPS --base-url)"),
              "", SIDELOAD]
    if ns.http:
        lines.append("\nNote: --http serves browsers, LibreOffice and tests; Excel loads add-ins over HTTPS only.")
    if not local and not token:
        lines.append(f"\nWARNING: listening on {ns.host} without a token: anyone who can reach this port can use "
                     "the API. Set LLMCALC_TOKEN or --token-file.")
    if wildcard and not base_url and not ns.allowed_host:
        lines.append(f"\nNote: this server answers requests for the Host names {', '.join(default_allowed_hosts())} "
                     "only; add --base-url or --allowed-host with the name clients use.")
    print("\n".join(lines), flush=True)

    import uvicorn

    configure_logging(ns.log_level)
    limits = Limits()
    # Ctrl+C / SIGTERM: finish requests in flight, then close idle keep-alive connections (a browser
    # tab holds some open) instead of waiting for them for ever.
    options = dict(uvicorn_options(limits), host=ns.host, port=ns.port, log_level=ns.log_level,
                   timeout_graceful_shutdown=5)
    if cert:
        options.update(ssl_certfile=cert.certfile, ssl_keyfile=cert.keyfile)
    if ns.workers > 1:
        os.environ.update({"LLMCALC_TOKEN": token or "", "LLMCALC_BASE_URL": base_url or "",
                           "LLMCALC_ALLOWED_ORIGINS": ",".join(ns.allowed_origin),
                           "LLMCALC_ALLOWED_HOSTS": ",".join(hosts),
                           "LLMCALC_TRUSTED_PROXIES": ",".join(ns.trusted_proxy),
                           "LLMCALC_PROCESSES": str(ns.processes or ""), "LLMCALC_LOG_LEVEL": ns.log_level})
        uvicorn.run("llmcalc.excel.server:app_from_env", factory=True, workers=ns.workers, **options)
    else:
        uvicorn.run(create_app(token=token, allowed_origins=ns.allowed_origin or None, base_url=base_url,
                               limits=limits, allowed_hosts=hosts, trusted_proxies=ns.trusted_proxy,
                               processes=ns.processes), **options)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
