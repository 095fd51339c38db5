"""The invite email's link, from the deploy-time ``invite_url_template``.

The template is the app's own accept-invitation URL with placeholders: ``{member_id}``,
``{external_id}`` (the app's own id of the member, R34; empty when it has none) and
``{tenant_id}``, e.g. ``https://app.example.com/invites/accept?member={member_id}&user={external_id}``.
Each value is percent-encoded (``/``, ``?``, ``&``, ``#`` and spaces included), so a value can fill
a path segment or a query value and never change the URL's shape.

``check_template`` is run where the template enters (the CDK synth and each function's settings
at cold start): https (or http to a loopback host, for a local app), a host, placeholders only
after the host (the link's destination is fixed at deploy time: no HR or admin value can steer
it), and no placeholder but the three (no format specs or conversions either). ``{{`` and ``}}``
are literal braces.
"""

from __future__ import annotations

from string import Formatter
from urllib.parse import quote, urlsplit

PLACEHOLDERS = ("member_id", "external_id", "tenant_id")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_SAMPLE = "x"


class InviteUrlTemplateError(ValueError):
    """The template cannot give a link; the message says why."""


def check_template(template: str) -> str:
    """``template`` when it is a usable invite URL template; ``InviteUrlTemplateError`` otherwise."""
    if not template.strip() or template != template.strip():
        raise InviteUrlTemplateError("the invite URL template is empty or has spaces around it")
    try:
        fields = list(Formatter().parse(template))
    except ValueError as error:  # a lone "{" or "}"
        raise InviteUrlTemplateError(f"the invite URL template is malformed ({error})") from None
    for _literal, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            shown = "{" + name + "}" if name else "{}"
            raise InviteUrlTemplateError(
                f"unknown placeholder {shown} in the invite URL template (known: {known})"
            )
        if spec or conversion:
            raise InviteUrlTemplateError(f"placeholder {{{name}}} takes no format spec or conversion")
    head = template.split("{", 1)[0].replace("}}", "}")
    fixed = urlsplit(head)
    if fixed.scheme not in ("https", "http") or not fixed.hostname:
        raise InviteUrlTemplateError(
            "the invite URL template must start with https://<host> (placeholders may only follow the host)"
        )
    if "{" in template and not _after_host(head):
        raise InviteUrlTemplateError("placeholders may only follow the host (in the path, query or fragment)")
    if fixed.scheme == "http" and fixed.hostname not in _LOOPBACK:
        raise InviteUrlTemplateError("the invite URL template must use https (http only for localhost)")
    rendered = urlsplit(render(template, member_id=_SAMPLE, external_id=_SAMPLE, tenant_id=_SAMPLE))
    try:
        moved = rendered.hostname != fixed.hostname or rendered.port != fixed.port
    except ValueError:  # a port out of range
        raise InviteUrlTemplateError("the invite URL template's port is not a port number") from None
    if moved:
        raise InviteUrlTemplateError("placeholders may only follow the host (in the path, query or fragment)")
    return template


def render(template: str, *, member_id: str, external_id: str | None, tenant_id: str) -> str:
    """The link for one member (``template`` checked by ``check_template``)."""
    values = {"member_id": member_id, "external_id": external_id or "", "tenant_id": tenant_id}
    return template.format_map({name: quote(value, safe="") for name, value in values.items()})


def _after_host(head: str) -> bool:
    """Whether the text before the first placeholder already ends the authority (a ``/``, ``?``
    or ``#`` follows ``scheme://host[:port]``)."""
    rest = head.split("://", 1)[1] if "://" in head else ""
    return any(mark in rest for mark in "/?#")
