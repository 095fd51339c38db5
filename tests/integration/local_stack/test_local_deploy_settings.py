"""Deploy-time settings through the local stack, as `hris-sync local up --max-connections 2
--invite-url-template ...` starts it: the synth's context reaches the functions' environments, over
HTTP a second labelled connection is allowed and a third refused (R22), and the invite emails in
the outbox (the raw MIME SES was given) link to the template filled in for each member."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.client import AdminClient, ApiError, fake_credentials
from infra.local.fake_hris import fake_hris
from infra.local.stack import LocalStack
from tests.support.mail import assert_readable, read

TEMPLATE = "http://localhost:3000/t/{tenant_id}/invites/{member_id}?user={external_id}"
TENANT = "tenant-deploy"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    deploy = {"max_connections": 2, "invite_url_template": TEMPLATE}
    with LocalStack(state_dir=tmp_path_factory.mktemp("deploy"), deploy=deploy) as running:
        yield running


def _connect(api: AdminClient, label: str, invites: str) -> dict:
    fake = fake_hris("bamboohr", employees=3, seed=5, rate_limit=None).start()
    try:
        connected = api.connect(
            provider="bamboohr",
            label=label,
            credentials=fake_credentials(fake, "whsec-" + label),
            scope={"mode": "everyone"},
            invites=invites,
            approval="auto",
            admin_emails=["it@deploy.example"],
        )
        api.wait_run(connected["run"]["id"], timeout=120)
    finally:
        fake.stop()
    return connected


def _outbox(stack: LocalStack) -> list[Path]:
    stack.drain()
    return stack.mail()


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> AdminClient:
    """The tenant's admin, with two connections (the first invites its members at once)."""
    client = AdminClient(stack.url, stack.token(TENANT))
    _connect(client, "Head office", invites="now")
    _connect(client, "Subsidiary", invites="later")
    return client


def test_r22_max_connections_from_the_deploy_context_allows_a_second_labelled_connection(
    api: AdminClient,
) -> None:
    assert sorted(c["label"] for c in api.connections()) == ["Head office", "Subsidiary"]
    with pytest.raises(ApiError) as refused:
        _connect(api, "Third", invites="later")
    assert (refused.value.status, refused.value.code) == (409, "connection_limit_reached")
    assert "maximum of 2" in str(refused.value)
    assert len(api.connections()) == 2


def test_the_invite_email_links_to_the_deploy_time_template_filled_in_for_the_member(
    stack: LocalStack, api: AdminClient
) -> None:
    members = {m["profile"]["email"]: m for m in api.members()}
    invites = [read(path.read_bytes()) for path in _outbox(stack) if "invited" in path.name]
    assert invites, "the first import invited its members"
    for mail in invites:
        assert_readable(mail, values=())
        [to] = mail.to
        member = members[to]
        link = f"http://localhost:3000/t/{TENANT}/invites/{member['id']}?user="
        assert mail.links == [link]
        assert f"Accept the invitation: {link}" in mail.paragraphs
    finished = [read(p.read_bytes()) for p in _outbox(stack) if p.name.split("-", 1)[1].startswith("import")]
    assert finished, "the completion emails"
    for mail in finished:
        assert_readable(mail, values=())
        assert "- Created: 3" in mail.text or "- Created: 0" in mail.text
    # Raw sends are allowed by the synthesized IAM (ses:SendRawEmail), as every other call made.
    assert not stack.iam_denied()
