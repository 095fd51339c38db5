"""Every email reads well as plain text and as HTML, with hostile values from HR data or admins.

Each message is checked as it is sent: ``mailer.compose`` builds the MIME that SES receives as raw
content (and the local outbox writes as ``.eml``), and the ``email`` parser reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.policy import SMTP

import pytest

from shared.adapters.mail_templates import TEMPLATES, render
from shared.adapters.mailer import compose
from shared.errors import InvalidInput
from shared.ports import MailTemplate
from tests.support.mail import HOSTILE, ReadMail, assert_readable, read

HOSTILE_URL = "https://app.example/review?run=r1&tab=plan"
FULL_DATA: Mapping[MailTemplate, dict[str, str | int | None]] = {
    MailTemplate.IMPORT_COMPLETE: {
        "connection_label": HOSTILE,
        "provider": "bamboohr",
        "status": "completed",
        "created": 12,
        "linked": 3,
        "skipped": 1,
        "run_id": "run_1",
    },
    MailTemplate.SYNC_BLOCKED: {
        "connection_label": HOSTILE,
        "deactivations": 120,
        "active_members": 400,
        "pct": 30,
        "run_id": "run_1",
        "review_url": HOSTILE_URL,
    },
    MailTemplate.WEBHOOK_GUARD: {
        "connection_label": HOSTILE,
        "provider": "hibob",
        "deactivations": 60,
        "active_members": 200,
        "window_minutes": 60,
        "max_deactivations": 50,
        "max_deactivation_pct": "20",
        "run_id": "run_2",
    },
    MailTemplate.CONNECTION_FAILING: {
        "connection_label": HOSTILE,
        "provider": "personio",
        "reason": "401 <Unauthorized> & 'denied'",
    },
    MailTemplate.MEMBER_INVITE: {
        "first_name": HOSTILE,
        "app_name": "Acme & Sons <Tools>",
        "invite_url": "https://app.example/invites/m_1?user=u%201&x=1",
        "expires_at": "2025-03-02T09:30:00+00:00",
    },
}


def sent(template: MailTemplate, data: Mapping[str, str | int | None]) -> ReadMail:
    raw = compose(render(template, data), sender="sync@acme.test", to=["admin@acme.test"])
    return read(raw.as_bytes(policy=SMTP))


def test_every_template_has_full_data_here() -> None:
    assert set(FULL_DATA) == set(MailTemplate) == set(TEMPLATES)


@pytest.mark.parametrize("template", list(MailTemplate))
def test_every_email_has_a_readable_text_part_and_an_escaped_html_document(template: MailTemplate) -> None:
    data = FULL_DATA[template]
    mail = sent(template, data)
    assert_readable(mail)
    # The hostile value reads as typed in both parts (escaped in the markup, not dropped or doubled).
    assert HOSTILE in mail.text
    assert HOSTILE in mail.html_text
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html
    assert "&amp;" in mail.html and "&amp;amp;" not in mail.html
    assert mail.to == ["admin@acme.test"]


def test_the_subject_is_one_line_even_when_a_label_is_not() -> None:
    mail = sent(
        MailTemplate.CONNECTION_FAILING, {"connection_label": "HR\r\nBcc: x@evil.test", "reason": "x"}
    )
    assert mail.subject == "Connection HR Bcc: x@evil.test is failing"
    assert mail.message["Bcc"] is None


def test_lists_are_one_line_per_item_in_text_and_a_list_in_html() -> None:
    mail = sent(MailTemplate.IMPORT_COMPLETE, FULL_DATA[MailTemplate.IMPORT_COMPLETE])
    assert "- Created: 12\n- Linked to existing members: 3\n- Skipped: 1" in mail.text
    assert mail.tags.count("li") == 3 and "ul" in mail.tags
    assert "Run: run_1" in mail.paragraphs


def test_an_import_that_created_nothing_says_so_with_numbers() -> None:
    mail = sent(MailTemplate.IMPORT_COMPLETE, {"connection_label": "HR", "created": 0})
    assert "- Created: 0" in mail.text


def test_a_partial_import_says_nobody_was_deactivated() -> None:
    data = {**FULL_DATA[MailTemplate.IMPORT_COMPLETE], "status": "partial"}
    assert "nobody was deactivated" in sent(MailTemplate.IMPORT_COMPLETE, data).text


def test_a_link_is_label_then_url_in_text_and_an_anchor_in_html() -> None:
    mail = sent(MailTemplate.SYNC_BLOCKED, FULL_DATA[MailTemplate.SYNC_BLOCKED])
    assert f"Review the plan and confirm or discard it: {HOSTILE_URL}" in mail.paragraphs
    assert mail.links == [HOSTILE_URL]


def test_without_a_review_url_the_email_says_where_to_review_and_has_no_empty_link() -> None:
    data = {k: v for k, v in FULL_DATA[MailTemplate.SYNC_BLOCKED].items() if k != "review_url"}
    mail = sent(MailTemplate.SYNC_BLOCKED, data)
    assert mail.links == []
    assert "Review the plan in the admin app's runs and confirm or discard it." in mail.paragraphs
    assert not any(p.rstrip().endswith(":") for p in mail.paragraphs)


def test_the_invite_links_to_its_url_and_shows_the_expiry_as_a_date() -> None:
    mail = sent(MailTemplate.MEMBER_INVITE, FULL_DATA[MailTemplate.MEMBER_INVITE])
    url = "https://app.example/invites/m_1?user=u%201&x=1"
    assert f"Accept the invitation: {url}" in mail.paragraphs
    assert mail.links == [url]
    assert "The invitation expires on 2 March 2025, 09:30 UTC." in mail.paragraphs
    assert mail.subject == "You're invited to Acme & Sons <Tools>"


def test_an_invite_without_a_link_tells_the_member_to_sign_in() -> None:
    mail = sent(MailTemplate.MEMBER_INVITE, {"first_name": "Ada", "app_name": "Acme"})
    assert_readable(mail)
    assert mail.links == []
    assert "To accept, sign in to Acme with this email address." in mail.paragraphs
    assert mail.paragraphs[0] == "Hello Ada,"


def test_a_url_that_is_not_http_is_shown_never_linked() -> None:
    mail = sent(MailTemplate.MEMBER_INVITE, {"invite_url": "javascript:alert(1)"})
    assert mail.links == []
    assert "Accept the invitation: javascript:alert(1)" in mail.html_text


def test_a_missing_variable_is_invalid_input_not_a_blank() -> None:
    with pytest.raises(InvalidInput, match="deactivations"):
        render(MailTemplate.SYNC_BLOCKED, {"connection_label": "HR"})
    with pytest.raises(InvalidInput, match="connection_label"):
        render(MailTemplate.IMPORT_COMPLETE, {"connection_label": ""})
