"""The admin portal's link: what the SaaS team's backend asks for and gets back."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from functions.admin_api.models.common import RequestModel, ResponseModel
from shared.ports import PortalIntent
from shared.services.portal import MAX_RETURN_URL_LENGTH


class PortalLinkRequest(RequestModel):
    intent: PortalIntent = Field(
        default=PortalIntent.MANAGE,
        description="`connect`: the portal opens on the connect journey; `manage`: on the connection",
    )
    return_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_RETURN_URL_LENGTH,
        description="Where the portal's Done and Back buttons send the admin: an absolute `https` URL "
        "(`http` only on a loopback host), without credentials",
    )
    email: str | None = Field(
        default=None,
        min_length=3,
        max_length=320,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="The admin who will use the link (kept with the session; never shown to others)",
    )


class PortalLinkOut(ResponseModel):
    url: str = Field(
        description="The one-time link: opened once, within `expires_at`, it starts a portal "
        "session for this tenant with admin rights (a few hours, in an HttpOnly cookie)"
    )
    intent: PortalIntent
    expires_at: datetime = Field(description="The link cannot be opened after this (a few minutes)")
