"""The invite link: the deploy-time template, its placeholders percent-encoded, checked on entry."""

from __future__ import annotations

import pytest

from shared.domain.invite_links import InviteUrlTemplateError, check_template, render

TEMPLATE = "https://app.example/t/{tenant_id}/invites/{member_id}?user={external_id}"


def test_each_placeholder_is_percent_encoded_into_its_place() -> None:
    link = render(TEMPLATE, member_id="m/1?x", external_id="ü & #2", tenant_id="acme")
    assert link == "https://app.example/t/acme/invites/m%2F1%3Fx?user=%C3%BC%20%26%20%232"


def test_an_empty_or_missing_external_id_renders_empty() -> None:
    assert render(TEMPLATE, member_id="m1", external_id=None, tenant_id="t").endswith("/invites/m1?user=")
    assert render(TEMPLATE, member_id="m1", external_id="", tenant_id="t").endswith("?user=")


@pytest.mark.parametrize(
    "template",
    [
        TEMPLATE,
        "https://app.example/accept",  # no placeholder: one link for everyone
        "https://app.example:8443/i#/{member_id}",
        "http://localhost:3000/invites/{member_id}",
        "http://127.0.0.1/i?m={member_id}",
        "https://app.example/{{literal}}/{member_id}",
    ],
)
def test_usable_templates_are_accepted(template: str) -> None:
    assert check_template(template) == template


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("http://app.example/i/{member_id}", "https"),
        ("ftp://app.example/{member_id}", "https://<host>"),
        ("javascript:alert({member_id})", "https://<host>"),
        ("app.example/{member_id}", "https://<host>"),
        ("https://app.example/{user_id}", "unknown placeholder {user_id}"),
        ("https://app.example/{}", "unknown placeholder {}"),
        ("https://app.example/{0}", "unknown placeholder {0}"),
        ("https://app.example/{member_id!r}", "no format spec"),
        ("https://app.example/{member_id:>10}", "no format spec"),
        ("https://{tenant_id}.app.example/i", "may only follow the host"),
        ("https://app.example{member_id}", "may only follow the host"),
        ("https://app.example/{member_id", "malformed"),
        ("https://app.example:99999/{member_id}", "port"),
        ("", "empty"),
        (" https://app.example/{member_id}", "spaces"),
    ],
)
def test_a_bad_template_is_refused_saying_why(template: str, says: str) -> None:
    with pytest.raises(InviteUrlTemplateError, match=r"(?i)" + __import__("re").escape(says)):
        check_template(template)
