"""The emails, written once as blocks (paragraphs, lists, links) and rendered by us as plain text
and as an HTML document (no SES stored templates to deploy).

Variables come from ``Email.data``. Each template names the variables it needs; a missing one is an
``InvalidInput`` (never an email with a blank where a number should be). Optional variables fall
back to ``OPTIONAL``; a template leaves out what an optional variable would say when it is empty
(no "Review it here:" followed by nothing).

The two parts read on their own: the text part has paragraphs apart (one blank line), lists as one
``- `` line each and a link as ``label: URL``; nothing in it is HTML (no entities, no tags). The
HTML part is a whole document (``lang``, a ``<title>``, ``<p>`` and ``<ul>``) in which every value
is escaped, and a link's ``href`` is only ever an http(s) URL (anything else is shown as text).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from shared.errors import InvalidInput
from shared.ports import MailTemplate

LANG = "en"
MAX_SUBJECT = 200


@dataclass(frozen=True, slots=True)
class Strong:
    """Emphasised text (``<strong>`` in HTML; as is in text)."""

    text: str


@dataclass(frozen=True, slots=True)
class Link:
    """A link: ``label: url`` in text, an anchor in HTML (when ``url`` is http or https)."""

    label: str
    url: str


Inline = str | Strong | Link


@dataclass(frozen=True, slots=True)
class Paragraph:
    parts: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Items:
    """A bulleted list, one line per item."""

    items: tuple[tuple[Inline, ...], ...]


@dataclass(frozen=True, slots=True)
class Footer:
    """The small print under a signature line."""

    text: str


Block = Paragraph | Items | Footer


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


OPTIONAL: Mapping[str, str] = {
    "app_name": "the app",
    "provider": "your HR system",
    "first_name": "",
    "created": "0",
    "invite_url": "",
    "review_url": "",
    "expires_at": "",
    "run_id": "",
    "status": "",
}


class _Values:
    """The template's variables as strings: given ones, else ``OPTIONAL``'s; anything else is a
    variable the template needs and was not given."""

    def __init__(self, template: MailTemplate, data: Mapping[str, str | int | None]) -> None:
        self._template = template
        self._given = {k: str(v) for k, v in data.items() if v is not None}
        self._values = {**OPTIONAL, **self._given}

    def __getitem__(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise InvalidInput(
                f"email {self._template.value} needs {name}", template=self._template.value
            ) from None

    def given(self, name: str) -> str | None:
        """The value when the caller gave one (not a default), else None."""
        value = self._given.get(name, "").strip()
        return value or None


# ---------------------------------------------------------------------------------------------
# The templates
# ---------------------------------------------------------------------------------------------


def _footer(v: _Values) -> Footer:
    return Footer(f"Sent by hris-sync for {v['app_name']}.")


def _run_line(v: _Values) -> tuple[Block, ...]:
    run_id = v.given("run_id")
    return (Paragraph(("Run: ", run_id)),) if run_id else ()


def _review(v: _Values, *, what: str, it: str = "it") -> Paragraph:
    url = v.given("review_url")
    if url:
        return Paragraph((Link(f"Review {what} and confirm or discard {it}", url),))
    return Paragraph((f"Review {what} in the admin app's runs and confirm or discard {it}.",))


# Counts of a first import, by the name the run gives them; "created" is always shown.
_IMPORT_COUNTS = (
    ("created", "Created"),
    ("linked", "Linked to existing members"),
    ("updated", "Updated"),
    ("reactivated", "Reactivated"),
    ("deactivated", "Deactivated"),
    ("skipped", "Skipped"),
)


def _import_complete(v: _Values) -> Message:
    label, provider = v["connection_label"], v["provider"]
    partial = v["status"] == "partial"
    shown = [
        (title, v[name])
        for name, title in _IMPORT_COUNTS
        if name == "created" or v.given(name) not in (None, "0")
    ]
    blocks: list[Block] = [
        Paragraph(("The first import of ", Strong(label), f" from {provider} has finished.")),
        Items(tuple((f"{title}: {value}",) for title, value in shown)),
    ]
    if partial:
        blocks.append(
            Paragraph(
                (
                    f"Not everyone could be read from {provider} (the list was incomplete), so "
                    "nobody was deactivated. The next sync tries again.",
                )
            )
        )
    return Message(
        subject=f"Import from {provider} finished: {label}",
        blocks=(*blocks, *_run_line(v), _footer(v)),
    )


def _sync_blocked(v: _Values) -> Message:
    label = v["connection_label"]
    return Message(
        subject=f"Sync of {label} is waiting for you: {v['deactivations']} deactivations",
        blocks=(
            Paragraph(
                (
                    "A sync of ",
                    Strong(label),
                    " would deactivate ",
                    Strong(v["deactivations"]),
                    f" of {v['active_members']} active members ({v['pct']}%), more than the safety "
                    "thresholds allow. Nothing was changed.",
                )
            ),
            _review(v, what="the plan"),
            *_run_line(v),
            _footer(v),
        ),
    )


def _webhook_guard(v: _Values) -> Message:
    label = v["connection_label"]
    return Message(
        subject=f"Webhook deactivations from {label} are waiting for you",
        blocks=(
            Paragraph(
                (
                    f"Webhooks from {v['provider']} deactivated ",
                    Strong(v["deactivations"]),
                    f" of {v['active_members']} active members of ",
                    Strong(label),
                    f" within {v['window_minutes']} minutes, and more would pass the safety thresholds:",
                )
            ),
            Items(
                (
                    (f"at most {v['max_deactivations']} members",),
                    (f"at most {v['max_deactivation_pct']}% of the active members",),
                )
            ),
            Paragraph(
                ("Further deactivations from webhooks are held, not applied; hires and updates go on.",)
            ),
            _review(v, what="the held deactivations", it="them"),
            *_run_line(v),
            _footer(v),
        ),
    )


def _connection_failing(v: _Values) -> Message:
    label = v["connection_label"]
    return Message(
        subject=f"Connection {label} is failing",
        blocks=(
            Paragraph(("hris-sync cannot sync ", Strong(label), f" from {v['provider']}:")),
            Paragraph((v["reason"],)),
            Paragraph(("No member was deactivated. Check the connection's credentials and settings.",)),
            *_run_line(v),
            _footer(v),
        ),
    )


def _member_invite(v: _Values) -> Message:
    app = v["app_name"]
    first_name = v.given("first_name")
    url = v.given("invite_url")
    blocks: list[Block] = [
        Paragraph((f"Hello {first_name}," if first_name else "Hello,",)),
        Paragraph(("You have been invited to join ", Strong(app), ".")),
        Paragraph((Link("Accept the invitation", url),))
        if url
        else Paragraph((f"To accept, sign in to {app} with this email address.",)),
    ]
    expires = v.given("expires_at")
    if expires:
        blocks.append(Paragraph((f"The invitation expires on {_when(expires)}.",)))
    return Message(subject=f"You're invited to {app}", blocks=(*blocks, _footer(v)))


@dataclass(frozen=True, slots=True)
class MailSpec:
    required: tuple[str, ...]
    build: Callable[[_Values], Message]


TEMPLATES: Mapping[MailTemplate, MailSpec] = {
    MailTemplate.IMPORT_COMPLETE: MailSpec(("connection_label",), _import_complete),
    MailTemplate.SYNC_BLOCKED: MailSpec(
        ("connection_label", "deactivations", "active_members", "pct"), _sync_blocked
    ),
    MailTemplate.WEBHOOK_GUARD: MailSpec(
        (
            "connection_label",
            "deactivations",
            "active_members",
            "window_minutes",
            "max_deactivations",
            "max_deactivation_pct",
        ),
        _webhook_guard,
    ),
    MailTemplate.CONNECTION_FAILING: MailSpec(("connection_label", "reason"), _connection_failing),
    MailTemplate.MEMBER_INVITE: MailSpec((), _member_invite),
}


def render(template: MailTemplate, data: Mapping[str, str | int | None]) -> Rendered:
    spec = TEMPLATES[template]
    missing = [name for name in spec.required if data.get(name) in (None, "")]
    if missing:
        raise InvalidInput(f"email {template.value} needs {', '.join(missing)}", template=template.value)
    message = spec.build(_Values(template, data))
    subject = " ".join(message.subject.split())[:MAX_SUBJECT]
    return Rendered(subject=subject, text=as_text(message.blocks), html=as_html(subject, message.blocks))


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def as_text(blocks: tuple[Block, ...]) -> str:
    """Paragraphs apart, a list as one ``- `` line per item, the footer under ``-- ``."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Paragraph):
            out.append(_text_line(block.parts))
        elif isinstance(block, Items):
            out.append("\n".join(f"- {_text_line(item)}" for item in block.items))
        else:
            out.append(f"-- \n{block.text}")
    return "\n\n".join(out) + "\n"


def as_html(title: str, blocks: tuple[Block, ...]) -> str:
    """A small HTML document: every value escaped, links only to http(s) URLs."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Paragraph):
            body.append(f"<p>{_html_line(block.parts)}</p>")
        elif isinstance(block, Items):
            items = "".join(f"<li>{_html_line(item)}</li>" for item in block.items)
            body.append(f"<ul>{items}</ul>")
        else:
            body.append(f'<p style="color:#666;font-size:12px">{html.escape(block.text)}</p>')
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{LANG}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;line-height:1.5;color:#1f2328">\n'
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _text_line(parts: tuple[Inline, ...]) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, Strong):
            out.append(part.text)
        elif isinstance(part, Link):
            out.append(f"{part.label}: {part.url}")
        else:
            out.append(part)
    return "".join(out)


def _html_line(parts: tuple[Inline, ...]) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, Strong):
            out.append(f"<strong>{html.escape(part.text)}</strong>")
        elif isinstance(part, Link):
            if _linkable(part.url):
                out.append(f'<a href="{html.escape(part.url, quote=True)}">{html.escape(part.label)}</a>')
            else:
                out.append(f"{html.escape(part.label)}: {html.escape(part.url)}")
        else:
            out.append(html.escape(part))
    return "".join(out)


def _linkable(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _when(value: str) -> str:
    """An ISO timestamp as people read it (``2 March 2025, 09:30 UTC``); anything else as is."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"
