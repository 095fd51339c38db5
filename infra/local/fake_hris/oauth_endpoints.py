"""The OAuth2 authorization and token endpoints the OAuth vendors' fakes share (BambooHR, Employment Hero)."""

from __future__ import annotations

import urllib.parse

from .oauth import OAuthError, OAuthServer
from .server import Request, Response


def _error(exc: OAuthError, status: int = 400) -> Response:
    return Response.json({"error": exc.error, "error_description": exc.description}, status)


def authorize(oauth: OAuthServer, request: Request, *, pkce: bool) -> Response:
    """Issue a code and redirect back; with ``pkce`` the S256 challenge is taken from the query."""
    redirect_uri = request.arg("redirect_uri")
    challenge = request.arg("code_challenge") if pkce else None
    method = request.arg("code_challenge_method") if pkce else None
    try:
        code = oauth.authorize(request.arg("client_id"), redirect_uri, challenge, method)
    except OAuthError as exc:
        return _error(exc)
    query = urllib.parse.urlencode({"code": code, "state": request.arg("state") or ""})
    return Response(302, b"", {"Location": f"{redirect_uri}?{query}"})


def token(oauth: OAuthServer, request: Request, *, scope: str, pkce: bool) -> Response:
    """The authorization-code and refresh-token grants (rotating refresh tokens)."""
    try:
        form = request.payload()
    except ValueError:
        return Response.json({"error": "invalid_request", "error_description": "Unreadable body"}, 400)
    grant = form.get("grant_type")
    try:
        if grant == "authorization_code":
            pair = oauth.exchange_code(
                form.get("code"),
                client_id=form.get("client_id"),
                client_secret=form.get("client_secret"),
                redirect_uri=form.get("redirect_uri"),
                code_verifier=form.get("code_verifier") if pkce else None,
            )
        elif grant == "refresh_token":
            pair = oauth.refresh(
                form.get("refresh_token"),
                client_id=form.get("client_id"),
                client_secret=form.get("client_secret"),
            )
        else:
            raise OAuthError(
                "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"
            )
    except OAuthError as exc:
        return _error(exc, 401 if exc.error == "invalid_client" else 400)
    return Response.json(pair.as_json(scope))
