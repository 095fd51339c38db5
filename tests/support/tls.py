"""TLS material for the tests (trustme, made on the spot, never a real key): the fake ADP's CA
and client pair, a client pair another CA signed, an expired pair."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trustme

from infra.local.fake_hris.tls import FakeTls, generate, issue


def fake_tls() -> FakeTls:
    """A CA, a server certificate for 127.0.0.1 and a client pair it signed (what the ADP fake
    makes at start; pass it as the fake's ``tls`` option to keep it)."""
    return generate("hris-sync test CA")


def stranger_pair() -> tuple[str, str]:
    """A client certificate and key a CA the fake does not know signed."""
    return issue(trustme.CA(organization_name="someone else"), "stranger.example")


def expired_pair() -> tuple[str, str]:
    """A client certificate (and key) whose validity ended yesterday."""
    ca = trustme.CA(organization_name="hris-sync test CA")
    now = datetime.now(UTC)
    leaf = ca.issue_cert(
        "client.hris-sync.example", not_before=now - timedelta(days=400), not_after=now - timedelta(days=1)
    )
    chain = "".join(blob.bytes().decode("ascii") for blob in leaf.cert_chain_pems)
    return chain, leaf.private_key_pem.bytes().decode("ascii")


__all__ = ["FakeTls", "expired_pair", "fake_tls", "stranger_pair"]
