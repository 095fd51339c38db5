"""The OAuth2 authorization and token endpoints the OAuth vendors' fakes share (BambooHR, Employment Hero),
and the redirect and error bodies the others reuse."""

from __future__ import annotations

import urllib.parse

from .oauth import OAuthError, OAuthServer
from .server import Request, Response


def error_response(error: str, description: str, status: int = 400) -> Response:
    """An OAuth2 error body (RFC 6749 5.2): ``{error, error_description}``."""
    return Response.json({"error": error, "error_description": description}, status)


def _error(exc: OAuthError, status: int = 400) -> Response:
    return error_response(exc.error, exc.description, status)


# A ``login_hint`` that makes the consenting admin decline (as ``OAuthServer.deny_consent`` does).
DENY_HINT = "deny"


def redirect_back(redirect_uri: str, values: dict[str, str]) -> Response:
    """A 302 to the client's redirect URI with ``values`` added to its query."""
    separator = "&" if "?" in redirect_uri else "?"
    return Response(302, b"", {"Location": f"{redirect_uri}{separator}{urllib.parse.urlencode(values)}"})


def authorize(oauth: OAuthServer, request: Request, *, pkce: bool) -> Response:
    """The consenting admin: issue a code and redirect back (with ``pkce`` the S256 challenge is
    taken from the query). A bad client or redirect URI is an error page, never a redirect (RFC
    6749 4.1.2.1), as is a bad PKCE challenge here; a declined consent (``deny_consent``, or
    ``login_hint=deny``) redirects back with ``error=access_denied``."""
    redirect_uri = request.arg("redirect_uri")
    challenge = request.arg("code_challenge") if pkce else None
    method = request.arg("code_challenge_method") if pkce else None
    state = request.arg("state") or ""
    try:
        oauth.check_authorization_request(request.arg("client_id"), redirect_uri)
    except OAuthError as exc:
        return _error(exc)
    assert redirect_uri is not None  # noqa: S101 - checked above
    if oauth.deny_consent or request.arg("login_hint") == DENY_HINT:
        return redirect_back(
            redirect_uri, {"error": "access_denied", "error_description": "Denied", "state": state}
        )
    try:
        code = oauth.authorize(request.arg("client_id"), redirect_uri, challenge, method)
    except OAuthError as exc:
        return _error(exc)
    return redirect_back(redirect_uri, {"code": code, "state": state})


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
