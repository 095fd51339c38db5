"""TLS material for a fake that speaks mutual TLS (ADP Workforce Now), made with ``trustme`` at
start: one CA that signs the fake's server certificate (127.0.0.1, localhost, ::1) and the client
certificate a connection presents. Test material only: it lives as long as the fake."""

from __future__ import annotations

from dataclasses import dataclass

import trustme

from .server import ServerTls


@dataclass(frozen=True)
class FakeTls:
    """A CA (``ca_certificate``: the trust anchor a connection to the fake names), the server's
    TLS (requiring client certificates that CA signed) and one client certificate and key."""

    ca_certificate: str
    server: ServerTls
    client_certificate: str
    client_key: str


def issue(
    ca: trustme.CA, *identities: str, organization: str = "hris-sync fake HR system"
) -> tuple[str, str]:
    """A leaf certificate (chain PEM) and its private key (PEM) that ``ca`` signs."""
    leaf = ca.issue_cert(*identities, organization_name=organization)
    chain = "".join(blob.bytes().decode("ascii") for blob in leaf.cert_chain_pems)
    return chain, leaf.private_key_pem.bytes().decode("ascii")


def generate(organization: str = "hris-sync fake HR CA") -> FakeTls:
    ca = trustme.CA(organization_name=organization)
    server_chain, server_key = issue(ca, "127.0.0.1", "localhost", "::1", organization=organization)
    ca_pem = ca.cert_pem.bytes().decode("ascii")
    client_chain, client_key = issue(ca, "client.hris-sync.example")
    return FakeTls(
        ca_certificate=ca_pem,
        server=ServerTls(server_chain, server_key, client_ca=ca_pem),
        client_certificate=client_chain,
        client_key=client_key,
    )
