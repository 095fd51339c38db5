"""Emails read as a mail client reads them: the raw MIME through the ``email`` parser, the HTML
part through ``html.parser``, and the checks that both parts read well on their own."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser

# What the HR data or an admin might type: markup, quotes, an ampersand, a line break.
HOSTILE = "Zoë <script>alert('x')</script> & \"O'Brien\" <b>"
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_TAG = re.compile(r"</?(p|ul|li|b|strong|a|br|html|body|div|span)\b", re.IGNORECASE)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: dict[str, list[dict[str, str | None]]] = {}
        self.texts: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.setdefault(tag, []).append(dict(attrs))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        else:
            self.texts.append(data)


@dataclass
class ReadMail:
    message: EmailMessage
    subject: str
    to: list[str]
    text: str
    html: str
    tags: list[str] = field(default_factory=list)
    attrs: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    html_text: str = ""  # the HTML part's text as shown (character references resolved)
    title: str = ""

    @property
    def links(self) -> list[str]:
        return [str(a.get("href")) for a in self.attrs.get("a", [])]

    @property
    def paragraphs(self) -> list[str]:
        return [p for p in self.text.split("\n\n") if p.strip()]


def read(raw: bytes | str) -> ReadMail:
    data = raw.encode() if isinstance(raw, str) else raw
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative", message.get_content_type()
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None and html_part is not None, "a text part and an HTML part"
    text = text_part.get_content().replace("\r\n", "\n")
    markup = html_part.get_content()
    page = _Page()
    page.feed(markup)
    page.close()
    return ReadMail(
        message=message,
        subject=str(message["Subject"]),
        to=[a.addr_spec for a in message["To"].addresses] if message["To"] else [],
        text=text,
        html=markup,
        tags=page.tags,
        attrs=page.attrs,
        html_text=" ".join(" ".join(page.texts).split()),
        title=page.title.strip(),
    )


def assert_readable(mail: ReadMail, values: tuple[str, ...] = (HOSTILE,)) -> None:
    """Both parts read on their own: the text is text (``values``, what HR data or an admin typed,
    aside), the HTML is a small escaped document."""
    ours = mail.text
    for value in values:
        ours = ours.replace(value, "")
    assert not _ENTITY.search(ours), f"an HTML entity in the text part: {mail.text!r}"
    assert not _TAG.search(ours), f"HTML markup in the text part: {mail.text!r}"
    assert len(mail.paragraphs) >= 2, f"paragraphs apart (blank lines): {mail.text!r}"
    assert "\n\n\n" not in mail.text, "one blank line between paragraphs"
    assert mail.tags[:1] == ["html"] and mail.attrs["html"][0].get("lang") == "en", "<html lang>"
    assert mail.title == mail.subject, (mail.title, mail.subject)
    assert "p" in mail.tags, "paragraphs in the HTML part"
    assert "script" not in mail.tags, "a value became markup"
    for href in mail.links:
        assert href.startswith(("https://", "http://")), href
