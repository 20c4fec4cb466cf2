"""Which TLS certificate ``llmcalc serve`` uses.

Office loads add-ins over HTTPS only, even from localhost. In order:

1. ``--cert`` and ``--key`` when given (a company certificate, or your own);
2. Office's development certificates, ``~/.office-addin-dev-certs/localhost.crt|key``, which
   ``npx office-addin-dev-certs install`` creates and trusts (the VS Code / Yeoman convention);
3. a self-signed certificate for localhost generated once into ``~/.llmcalc/certs`` (or
   ``$LLMCALC_CERT_DIR``), with instructions to trust it.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

OFFICE_DEV_CERTS = Path("~/.office-addin-dev-certs")
LOCAL_NAMES = ("localhost",)
LOCAL_IPS = ("127.0.0.1", "::1")


class CertificateError(Exception):
    pass


@dataclass
class Certificate:
    certfile: str
    keyfile: str
    source: str              # "given" | "office-addin-dev-certs" | "generated" | "generated earlier"
    trust_help: str | None = None


def cert_dir() -> Path:
    return Path(os.environ.get("LLMCALC_CERT_DIR") or Path.home() / ".llmcalc" / "certs")


def choose(cert: str | None = None, key: str | None = None, *, home: Path | None = None,
           directory: Path | None = None) -> Certificate:
    if bool(cert) != bool(key):
        raise CertificateError("give both --cert and --key, or neither")
    if cert and key:
        for f in (cert, key):
            if not Path(f).is_file():
                raise CertificateError(f"no such file: {f}")
        return Certificate(cert, key, "given")
    office = (home / ".office-addin-dev-certs") if home else OFFICE_DEV_CERTS.expanduser()
    crt, pem = office / "localhost.crt", office / "localhost.key"
    if crt.is_file() and pem.is_file():
        return Certificate(str(crt), str(pem), "office-addin-dev-certs")
    directory = directory or cert_dir()
    crt, pem = directory / "localhost.crt", directory / "localhost.key"
    if crt.is_file() and pem.is_file() and _still_valid(crt):
        return Certificate(str(crt), str(pem), "generated earlier", trust_instructions(crt))
    generate_self_signed(directory)
    return Certificate(str(crt), str(pem), "generated", trust_instructions(crt))


def _still_valid(path: Path, margin_days: int = 7) -> bool:
    from cryptography import x509

    try:
        c = x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        return False
    return c.not_valid_after_utc - dt.timedelta(days=margin_days) > dt.datetime.now(dt.timezone.utc)


def generate_self_signed(directory: Path, days: int = 365) -> tuple[Path, Path]:
    """A self-signed certificate (not a CA: no key that could sign other sites) for localhost,
    127.0.0.1 and ::1. Returns (certificate, key); the key file is readable by its owner only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "llmcalc development certificate")])
    now = dt.datetime.now(dt.timezone.utc)
    san = [x509.DNSName(n) for n in LOCAL_NAMES] + [x509.IPAddress(ipaddress.ip_address(i)) for i in LOCAL_IPS]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    crt, pem = directory / "localhost.crt", directory / "localhost.key"
    fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return crt, pem


def trust_instructions(crt: Path) -> str:
    return f"""\
  This is a self-signed certificate for localhost. Until your computer trusts it, browsers warn and
  Excel will not load the add-in. Trust it once (or run `npx office-addin-dev-certs install`, whose
  certificates this server prefers):
    macOS:   security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db {crt}
    Windows: certutil -user -addstore Root {crt}
    Linux (Chrome/Chromium): certutil -d sql:$HOME/.pki/nssdb -A -t "P,," -n llmcalc-localhost -i {crt}"""
