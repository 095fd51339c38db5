"""The admin portal's one-time links and sessions, on the single table.

- A link is one item, ``PORTAL#LINK#<sha256 of the token>`` / ``PORTAL``: the token itself is never
  stored. Opening it is one conditional ``DeleteItem`` (``attribute_exists(pk) AND expires_at >
  :now``) that returns the deleted item: of two browsers opening the same link at once exactly one
  gets it; the other, and any later try, finds nothing (``PortalLinkUsed``). A failed condition
  hands back the item it found (``ReturnValuesOnConditionCheckFailure``): there is one, so it
  expired (``PortalLinkExpired``; the table's TTL removes it).
- A session is one item, ``PORTAL#SESSION#<sha256 of the cookie's token>`` / ``PORTAL``: read
  consistently on every portal call; an item past ``expires_at`` is refused at once (TTL removes it
  within days, not at the second).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters import keys
from shared.adapters.aws_errors import error_code
from shared.adapters.dynamo import DynamoTable, Item, describe_key, deserialize, epoch, key, serialize
from shared.errors import (
    AlreadyExists,
    CorruptItem,
    PortalLinkExpired,
    PortalLinkUsed,
    PortalSessionInvalid,
)
from shared.ports import PortalIntent, PortalLink, PortalSession

LINK = "portal_link"
SESSION = "portal_session"


def _optional(values: dict[str, Any], **optional: str | None) -> dict[str, Any]:
    return {**values, **{name: value for name, value in optional.items() if value is not None}}


def _link_item(link: PortalLink) -> Item:
    return {
        **key(keys.portal_link_pk(link.token_digest), keys.PORTAL_SK),
        **serialize(
            _optional(
                {
                    "entity": LINK,
                    "tenant_id": link.tenant_id,
                    "intent": link.intent.value,
                    "created_by": link.created_by,
                    "expires_at": epoch(link.expires_at),
                    "ttl": epoch(link.expires_at),
                },
                return_url=link.return_url,
                email=link.email,
            )
        ),
    }


def _session_item(session: PortalSession) -> Item:
    return {
        **key(keys.portal_session_pk(session.token_digest), keys.PORTAL_SK),
        **serialize(
            _optional(
                {
                    "entity": SESSION,
                    "tenant_id": session.tenant_id,
                    "subject": session.subject,
                    "intent": session.intent.value,
                    "csrf_token": session.csrf_token,
                    "expires_at": epoch(session.expires_at),
                    "ttl": epoch(session.expires_at),
                },
                return_url=session.return_url,
                email=session.email,
            )
        ),
    }


def _plain(item: Item, entity: str) -> dict[str, Any]:
    plain = deserialize(item)
    if plain.get("entity") != entity:
        raise CorruptItem(describe_key(item), f"expected a {entity} item, found {plain.get('entity')!r}")
    return plain


def _at(plain: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(plain["expires_at"]), UTC)


def _link_from(token_digest: str, item: Item) -> PortalLink:
    plain = _plain(item, LINK)
    try:
        return PortalLink(
            token_digest=token_digest,
            tenant_id=str(plain["tenant_id"]),
            intent=PortalIntent(plain["intent"]),
            created_by=str(plain["created_by"]),
            expires_at=_at(plain),
            return_url=plain.get("return_url"),
            email=plain.get("email"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptItem(describe_key(item), "portal link") from error


def _session_from(token_digest: str, item: Item) -> PortalSession:
    plain = _plain(item, SESSION)
    try:
        return PortalSession(
            token_digest=token_digest,
            tenant_id=str(plain["tenant_id"]),
            subject=str(plain["subject"]),
            intent=PortalIntent(plain["intent"]),
            csrf_token=str(plain["csrf_token"]),
            expires_at=_at(plain),
            return_url=plain.get("return_url"),
            email=plain.get("email"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptItem(describe_key(item), "portal session") from error


class DynamoPortalStore:
    """``PortalStore`` on the single table."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def _put_new(self, item: Item) -> None:
        try:
            self._table.put_item(
                TableName=self._table.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise AlreadyExists("portal item", describe_key(item)) from None
            raise

    def add_link(self, link: PortalLink) -> None:
        self._put_new(_link_item(link))

    def take_link(self, token_digest: str, now: datetime) -> PortalLink:
        try:
            answer = self._table.delete_item(
                TableName=self._table.table_name,
                Key=key(keys.portal_link_pk(token_digest), keys.PORTAL_SK),
                ConditionExpression="attribute_exists(pk) AND expires_at > :now",
                ExpressionAttributeValues={":now": {"N": str(epoch(now))}},
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            if error.response.get("Item"):  # sent with the failure
                raise PortalLinkExpired from None
            raise PortalLinkUsed from None
        item = answer.get("Attributes")
        if not item:
            raise PortalLinkUsed
        return _link_from(token_digest, dict(item))

    def add_session(self, session: PortalSession) -> None:
        self._put_new(_session_item(session))

    def session(self, token_digest: str, now: datetime) -> PortalSession:
        item = self._table.get(key(keys.portal_session_pk(token_digest), keys.PORTAL_SK))
        if item is None:
            raise PortalSessionInvalid
        found = _session_from(token_digest, item)
        if found.expires_at <= now:
            raise PortalSessionInvalid
        return found

    def end_session(self, token_digest: str) -> None:
        self._table.delete_item(
            TableName=self._table.table_name,
            Key=key(keys.portal_session_pk(token_digest), keys.PORTAL_SK),
        )
