"""Members on DynamoDB: one item per member, an email guard, a link guard and an external id guard
(R34) beside it.

Every member write is a conditional write inside a TransactWriteItems request (up to 100 items):
BatchWriteItem cannot carry a condition, and every member write needs one (a create must not
overwrite, an update must find the version it was computed from, an email must be free). A create
is at most three items (member, email guard, link or external id guard: a member created by a sync
has no external id, one the app brings in has no link yet), so one request carries 33 creates; an update
that keeps its email and link is one item, so one request carries 100 updates. A failed condition
cancels the whole request: the adapter reads why, settles the writes that failed (conflict,
email taken, already applied ...) and re-sends the others, so one conflict never fails the batch.
A request of a single item goes as a plain conditional write.

The member item is flat: keys, ``doc`` (the member as JSON) and top-level copies of what
conditions and filters read (tenant_id, member_id, status, source, version, last_action).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from shared.adapters import keys
from shared.adapters.aws_errors import error_code
from shared.adapters.dynamo import (
    DOC_ATTRIBUTE,
    TRANSACT_LIMIT,
    DynamoTable,
    Item,
    describe_key,
    deserialize,
    encode_cursor,
    key,
    num_attr,
    serialize,
    str_attr,
    validation_problems,
)
from shared.adapters.table_schema import GSI_FLAG, GSI_SOURCE, GSI_STATUS
from shared.codecs import member_from_json, to_json
from shared.domain.models import Member
from shared.errors import CorruptItem, InvalidInput, KeyTooLong, MemberNotFound
from shared.ports import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    MAX_TEXT_SCAN,
    MemberLookup,
    MemberQuery,
    MemberWrite,
    Page,
    WriteOutcome,
    WriteResult,
)

ENTITY = "member"
_RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def member_item(member: Member, action_key: str | None = None) -> Item:
    t, m = member.tenant_id, member.member_id
    plain: dict[str, Any] = {
        "pk": keys.member_pk(t, m),
        "sk": keys.MEMBER_SK,
        "entity": ENTITY,
        "gsi1pk": keys.member_status_gsi(t, member.status.value),
        "gsi1sk": keys.member_sort(m),
        "gsi2pk": keys.member_source_gsi(t),
        "gsi2sk": keys.member_source_sort(member.source.value, m),
        "tenant_id": t,
        "member_id": m,
        "status": member.status.value,
        "source": member.source.value,
        "version": member.version,
        DOC_ATTRIBUTE: to_json(member),
    }
    if member.flags:
        # One flag exists today (MemberFlag); the sparse index holds the member under it.
        plain["gsi3pk"] = keys.member_flag_gsi(t, sorted(f.value for f in member.flags)[0])
        plain["gsi3sk"] = keys.member_sort(m)
    if action_key is not None:
        plain["last_action"] = action_key
    return serialize(plain)


def member_from_item(item: Item) -> Member:
    """The member a stored item holds (its ``doc``), or ``CorruptItem`` naming the key."""
    where = describe_key(item)
    entity = item.get("entity")
    if not isinstance(entity, dict) or entity.get("S") != ENTITY:
        found = entity.get("S") if isinstance(entity, dict) else None
        raise CorruptItem(where, f"expected a {ENTITY} item, found entity {found!r}")
    doc = item.get(DOC_ATTRIBUTE)
    if not isinstance(doc, dict) or not isinstance(doc.get("S"), str):
        raise CorruptItem(where, f"no {DOC_ATTRIBUTE!r} document")
    try:
        member = member_from_json(doc["S"])
    except ValidationError as error:
        if any(problem["type"] == "json_invalid" for problem in error.errors()):
            raise CorruptItem(where, f"unreadable {DOC_ATTRIBUTE!r} document") from error
        raise CorruptItem(where, validation_problems(error)) from error
    expected = keys.member_pk(member.tenant_id, member.member_id)
    if item["pk"]["S"] != expected:
        raise CorruptItem(describe_key(item), f"member fields do not match its key (expected {expected!r})")
    return member


def _link_of(member: Member) -> tuple[str, str] | None:
    if member.connection_id and member.hris_id:
        return member.connection_id, member.hris_id
    return None


@dataclass
class _Group:
    """The transaction items of one member write, and where they sit in the request."""

    index: int
    write: MemberWrite
    items: list[Item]
    touched: frozenset[str]
    attempts: int = 0


class DynamoMemberStore:
    """``MemberStore`` on the single table."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    # --- reads ----------------------------------------------------------------------------------
    def get(self, tenant_id: str, member_id: str) -> Member:
        item = self._table.get(key(keys.member_pk(tenant_id, member_id), keys.MEMBER_SK))
        if item is None:
            raise MemberNotFound(member_id, tenant_id=tenant_id)
        return member_from_item(item)

    def get_many(self, tenant_id: str, member_ids: Sequence[str]) -> dict[str, Member]:
        wanted = []
        for m in dict.fromkeys(member_ids):
            try:
                wanted.append(key(keys.member_pk(tenant_id, m), keys.MEMBER_SK))
            except KeyTooLong:
                continue  # no member has that key
        members = (member_from_item(item) for item in self._table.batch_get(wanted))
        return {m.member_id: m for m in members}

    def find_by_email(self, tenant_id: str, email: str) -> Member | None:
        if not email.strip():
            return None
        try:
            guard = key(keys.email_pk(tenant_id, email), keys.EMAIL_SK)
        except KeyTooLong:
            return None  # an email too long for a key is held by no member
        return self._follow_guard(tenant_id, guard)

    def find_by_link(self, tenant_id: str, connection_id: str, hris_id: str) -> Member | None:
        try:
            guard = key(keys.link_pk(tenant_id, connection_id, hris_id), keys.LINK_SK)
        except KeyTooLong:
            return None  # an HR id too long for a key is linked to no member
        return self._follow_guard(tenant_id, guard)

    def find_by_external_id(self, tenant_id: str, external_id: str) -> Member | None:
        if not external_id:
            return None
        try:
            guard = key(keys.external_id_pk(tenant_id, external_id), keys.EXTERNAL_ID_SK)
        except KeyTooLong:
            return None  # an external id too long for a key is held by no member
        return self._follow_guard(tenant_id, guard)

    def find_many(
        self, tenant_id: str, *, emails: Sequence[str] = (), external_ids: Sequence[str] = ()
    ) -> MemberLookup:
        """Two batched reads whatever the number of values: the guard items (100 a request), then
        the members they name."""
        wanted: dict[str, tuple[str, str]] = {}  # guard key -> ("email" | "external_id", value)
        guard_keys: list[Item] = []
        for kind, values, build, sk in (
            ("email", (e.strip().lower() for e in emails), keys.email_pk, keys.EMAIL_SK),
            ("external_id", iter(external_ids), keys.external_id_pk, keys.EXTERNAL_ID_SK),
        ):
            for value in values:
                if not value:
                    continue
                try:
                    guard_key = key(build(tenant_id, value), sk)
                except KeyTooLong:
                    continue  # no member holds a value no key can hold
                if describe_key(guard_key) not in wanted:
                    wanted[describe_key(guard_key)] = (kind, value)
                    guard_keys.append(guard_key)
        holders: dict[tuple[str, str], str] = {}
        for guard in self._table.batch_get(guard_keys):
            member_id = guard.get("member_id", {}).get("S")
            if not member_id:
                raise CorruptItem(describe_key(guard), "guard item names no member")
            holders[wanted[describe_key(guard)]] = member_id
        found = self.get_many(tenant_id, list(holders.values()))
        by_email: dict[str, Member] = {}
        by_external_id: dict[str, Member] = {}
        for (kind, value), member_id in holders.items():
            member = found.get(member_id)
            if member is None:
                raise CorruptItem(
                    f"{kind} guard of {value!r}", f"names member {member_id!r}, which does not exist"
                )
            (by_email if kind == "email" else by_external_id)[value] = member
        return MemberLookup(by_email=by_email, by_external_id=by_external_id)

    def _follow_guard(self, tenant_id: str, guard_key: Item) -> Member | None:
        guard = self._table.get(guard_key)
        if guard is None:
            return None
        member_id = guard.get("member_id", {}).get("S")
        if not member_id:
            raise CorruptItem(describe_key(guard_key), "guard item names no member")
        item = self._table.get(key(keys.member_pk(tenant_id, member_id), keys.MEMBER_SK))
        if item is None:
            raise CorruptItem(
                describe_key(guard_key), f"guard names member {member_id!r}, which does not exist"
            )
        return member_from_item(item)

    def query(
        self,
        tenant_id: str,
        query: MemberQuery,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> Page[Member]:
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_LIMIT}", field="limit")
        if query.email is not None or query.external_id is not None:
            return self._by_guard(tenant_id, query, cursor)
        filters: list[str] = []
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sort_prefix: str | None = None
        if query.flag is not None:
            index, attr, sort_attr = GSI_FLAG, "gsi3pk", "gsi3sk"
            partition = keys.member_flag_gsi(tenant_id, query.flag.value)
            if query.status is not None:
                filters.append("#st = :st")
            if query.source is not None:
                filters.append("#src = :src")
        elif query.status is not None:
            index, attr, sort_attr = GSI_STATUS, "gsi1pk", "gsi1sk"
            partition = keys.member_status_gsi(tenant_id, query.status.value)
            if query.source is not None:
                filters.append("#src = :src")
        else:
            index, attr, sort_attr = GSI_SOURCE, "gsi2pk", "gsi2sk"
            partition = keys.member_source_gsi(tenant_id)
            if query.source is not None:
                sort_prefix = keys.member_source_prefix(query.source.value)
        if "#st = :st" in filters and query.status is not None:
            names["#st"], values[":st"] = "status", str_attr(query.status.value)
        if "#src = :src" in filters and query.source is not None:
            names["#src"], values[":src"] = "source", str_attr(query.source.value)
        request: dict[str, Any] = {
            "index": index,
            "partition_attr": attr,
            "partition_value": partition,
            "sort_attr": sort_attr,
            "sort_prefix": sort_prefix,
            "filter_expression": " AND ".join(filters) or None,
            "filter_names": names,
            "filter_values": values,
        }
        if query.text is not None:
            return self._by_text(query.text, request, cursor, limit, ("pk", "sk", attr, sort_attr))
        result = self._table.query_page(limit=limit, cursor=cursor, **request)
        return Page(tuple(member_from_item(i) for i in result.items), result.next_cursor)

    def _by_guard(self, tenant_id: str, query: MemberQuery, cursor: str | None) -> Page[Member]:
        """A page of at most one member: the holder of the email or external id, if it meets the
        other filters (a one-member page has no next page, so it takes no cursor)."""
        if cursor is not None:
            raise InvalidInput("a query by email or external id has one page; send no cursor", field="cursor")
        member = (
            self.find_by_external_id(tenant_id, query.external_id)
            if query.external_id is not None
            else self.find_by_email(tenant_id, query.email or "")
        )
        if member is None or not query.matches(member):
            return Page(())
        return Page((member,))

    def _by_text(
        self, text: str, request: dict[str, Any], cursor: str | None, limit: int, key_names: tuple[str, ...]
    ) -> Page[Member]:
        """Members whose names or email hold ``text``, filtered here (DynamoDB compares bytes; a
        casefold match needs Python), evaluating at most ``MAX_TEXT_SCAN`` members per call: the
        page may be short, its cursor resumes after the last member evaluated."""
        found: list[Member] = []
        evaluated = 0
        while True:
            chunk = min(MAX_PAGE_LIMIT, MAX_TEXT_SCAN - evaluated)
            result = self._table.query_page(limit=chunk, cursor=cursor, **request)
            for item in result.items:
                evaluated += 1
                member = member_from_item(item)
                if not MemberQuery(text=text).matches(member):
                    continue
                found.append(member)
                if len(found) == limit:
                    last = item is result.items[-1] and result.next_cursor is None
                    return Page(
                        tuple(found), None if last else encode_cursor({n: item[n] for n in key_names})
                    )
            cursor = result.next_cursor
            if cursor is None or evaluated >= MAX_TEXT_SCAN:
                return Page(tuple(found), cursor)

    def iter_all(self, tenant_id: str) -> Iterator[Member]:
        for item in self._table.query_all(
            index=GSI_SOURCE,
            partition_attr="gsi2pk",
            partition_value=keys.member_source_gsi(tenant_id),
            sort_attr="gsi2sk",
        ):
            yield member_from_item(item)

    # --- writes ---------------------------------------------------------------------------------
    def write(self, tenant_id: str, writes: Sequence[MemberWrite]) -> list[WriteResult]:
        groups: list[_Group] = []
        results: dict[int, WriteResult] = {}
        for i, w in enumerate(self._check(tenant_id, writes)):
            try:
                groups.append(self._group(tenant_id, i, w))
            except KeyTooLong as error:  # R25: refused on its own; the other writes go on
                results[i] = WriteResult(w.member.member_id, WriteOutcome.UNSTORABLE, field=error.field)
        pending = groups
        while pending:
            batch, pending = _pack(pending)
            cancelled = self._table.transact([item for g in batch for item in g.items])
            if cancelled is None:
                for g in batch:
                    results[g.index] = WriteResult(g.write.member.member_id, WriteOutcome.APPLIED)
                continue
            retry: list[_Group] = []
            offset = 0
            for g in batch:
                reasons = cancelled.reasons[offset : offset + len(g.items)]
                offset += len(g.items)
                failed = {r for r in reasons if r is not None}
                if failed & {"ConditionalCheckFailed", "Unknown"}:
                    settled = self._settle(tenant_id, g)
                    if settled is not None:
                        results[g.index] = settled
                        continue
                elif failed - _RETRYABLE_REASONS:
                    raise InvalidInput(
                        f"member {g.write.member.member_id!r} cannot be written: {sorted(failed)}",
                        member_id=g.write.member.member_id,
                    )
                if failed:
                    g.attempts = self._table.backoff.wait(g.attempts, "TransactWriteItems")
                retry.append(g)
            pending = retry + pending
        return [results[i] for i in range(len(writes))]

    @staticmethod
    def _check(tenant_id: str, writes: Sequence[MemberWrite]) -> Sequence[MemberWrite]:
        seen: set[str] = set()
        for w in writes:
            member = w.member
            if member.tenant_id != tenant_id or (
                w.previous is not None and w.previous.tenant_id != tenant_id
            ):
                raise InvalidInput("a member write names another tenant", member_id=member.member_id)
            if member.member_id in seen:
                raise InvalidInput("at most one write per member in one call", member_id=member.member_id)
            seen.add(member.member_id)
            if w.previous is not None and w.previous.member_id != member.member_id:
                raise InvalidInput("previous state of another member", member_id=member.member_id)
            expected = 1 if w.previous is None else w.previous.version + 1
            if member.version != expected:
                raise InvalidInput(
                    f"member version must be {expected} for this write", member_id=member.member_id
                )
        return writes

    def _group(self, tenant_id: str, index: int, w: MemberWrite) -> _Group:
        member, previous = w.member, w.previous
        m = member.member_id
        put: dict[str, Any] = {"TableName": self._table.table_name, "Item": member_item(member, w.action_key)}
        if previous is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#v = :v"
            put["ExpressionAttributeNames"] = {"#v": "version"}
            put["ExpressionAttributeValues"] = {":v": num_attr(previous.version)}
        items: list[Item] = [{"Put": put}]
        old_email = previous.email_key if previous is not None else None
        if member.email_key != old_email:
            if old_email:
                items.append(self._release(keys.email_pk(tenant_id, old_email), keys.EMAIL_SK, m))
            if member.email_key:
                items.append(
                    self._claim(keys.email_pk(tenant_id, member.email_key), keys.EMAIL_SK, m, "email")
                )
        old_external = previous.external_id if previous is not None else None
        if member.external_id != old_external:
            if old_external:
                items.append(
                    self._release(keys.external_id_pk(tenant_id, old_external), keys.EXTERNAL_ID_SK, m)
                )
            if member.external_id:
                items.append(
                    self._claim(
                        keys.external_id_pk(tenant_id, member.external_id),
                        keys.EXTERNAL_ID_SK,
                        m,
                        "external_id",
                    )
                )
        old_link = _link_of(previous) if previous is not None else None
        new_link = _link_of(member)
        if new_link != old_link:
            if old_link:
                items.append(self._release(keys.link_pk(tenant_id, *old_link), keys.LINK_SK, m))
            if new_link:
                items.append(self._claim(keys.link_pk(tenant_id, *new_link), keys.LINK_SK, m, "link"))
        touched = frozenset(
            describe_key(next(iter(i.values()))["Item" if "Put" in i else "Key"]) for i in items
        )
        return _Group(index, w, items, touched)

    def _claim(self, pk: str, sk: str, member_id: str, entity: str) -> Item:
        return {
            "Put": {
                "TableName": self._table.table_name,
                "Item": serialize({"pk": pk, "sk": sk, "entity": entity, "member_id": member_id}),
                "ConditionExpression": "attribute_not_exists(pk) OR member_id = :m",
                "ExpressionAttributeValues": {":m": str_attr(member_id)},
            }
        }

    def _release(self, pk: str, sk: str, member_id: str) -> Item:
        return {
            "Delete": {
                "TableName": self._table.table_name,
                "Key": key(pk, sk),
                "ConditionExpression": "attribute_not_exists(pk) OR member_id = :m",
                "ExpressionAttributeValues": {":m": str_attr(member_id)},
            }
        }

    def _settle(self, tenant_id: str, g: _Group) -> WriteResult | None:
        """Why a write's condition failed, read back; None when the cause is gone (retry it)."""
        member, previous = g.write.member, g.write.previous
        m = member.member_id
        stored = self._table.get(key(keys.member_pk(tenant_id, m), keys.MEMBER_SK))
        if stored is not None and stored.get("last_action", {}).get("S") == g.write.action_key:
            return WriteResult(m, WriteOutcome.ALREADY_APPLIED)
        if previous is None and stored is not None:
            return WriteResult(m, WriteOutcome.ALREADY_EXISTS)
        if previous is not None:
            if stored is None:
                return WriteResult(m, WriteOutcome.NOT_FOUND)
            stored_version = deserialize({"version": stored.get("version", {"NULL": True})})["version"]
            if stored_version != previous.version:
                return WriteResult(m, WriteOutcome.VERSION_CONFLICT)
        return self._guard_conflict(tenant_id, member)

    def _guard_conflict(self, tenant_id: str, member: Member) -> WriteResult | None:
        """A guard the write needs that another member holds (its email, or its link)."""
        m = member.member_id
        if member.email_key:
            holder = self._holder(key(keys.email_pk(tenant_id, member.email_key), keys.EMAIL_SK))
            if holder is not None and holder != m:
                return WriteResult(m, WriteOutcome.EMAIL_TAKEN, conflicting_member_id=holder)
        if member.external_id:
            holder = self._holder(
                key(keys.external_id_pk(tenant_id, member.external_id), keys.EXTERNAL_ID_SK)
            )
            if holder is not None and holder != m:
                return WriteResult(m, WriteOutcome.EXTERNAL_ID_TAKEN, conflicting_member_id=holder)
        link = _link_of(member)
        if link:
            holder = self._holder(key(keys.link_pk(tenant_id, *link), keys.LINK_SK))
            if holder is not None and holder != m:
                return WriteResult(m, WriteOutcome.ALREADY_EXISTS, conflicting_member_id=holder)
        return None

    def _holder(self, guard_key: Item) -> str | None:
        guard = self._table.get(guard_key)
        if guard is None:
            return None
        holder = guard.get("member_id", {}).get("S")
        if not holder:
            raise CorruptItem(describe_key(guard_key), "guard item names no member")
        return str(holder)


def _pack(groups: list[_Group]) -> tuple[list[_Group], list[_Group]]:
    """The next transaction: groups in order, up to 100 items, no key twice; and the rest."""
    batch: list[_Group] = []
    rest: list[_Group] = []
    size = 0
    in_batch: set[str] = set()
    deferred: set[str] = set()
    full = False
    for g in groups:
        full = full or size + len(g.items) > TRANSACT_LIMIT
        if full or g.touched & (in_batch | deferred):
            # Later writes on a deferred key wait too: writes on one key keep their order
            # (an email released by one write and claimed by a later one).
            rest.append(g)
            deferred |= g.touched
            continue
        batch.append(g)
        size += len(g.items)
        in_batch |= g.touched
    return batch, rest


def is_conditional_failure(error: ClientError) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"
