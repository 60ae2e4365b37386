"""An https server verified with the CA file of the client's settings (OPSJOBS_CA_FILE)."""

from __future__ import annotations

import pytest

from helpers import run_cli, running_server
from opsjobs.client import ClientConfig, ConfigError, TransportError


def test_https_with_the_configured_ca(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file, certfile, keyfile = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(keyfile))
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    url = f"sqlite:///{tmp_path / 'opsjobs.db'}"
    assert run_cli("migrate", "--database-url", url).returncode == 0
    tls = ("--certfile", str(certfile), "--keyfile", str(keyfile))
    with running_server(url, *tls, scheme="https", verify=str(ca_file)) as (base, _):
        trusted = ClientConfig.load({"OPSJOBS_URL": base, "OPSJOBS_CA_FILE": str(ca_file)})
        with trusted.client() as client:
            assert client.ping() == {"status": "ok"}
        with ClientConfig.load({"OPSJOBS_URL": base}).client() as unknown_ca:
            with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
                unknown_ca.ping()
    missing = ClientConfig.load({"OPSJOBS_URL": base, "OPSJOBS_CA_FILE": str(tmp_path / "no")})
    with pytest.raises(ConfigError, match="ca_file"):
        missing.client()
