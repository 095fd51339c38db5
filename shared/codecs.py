"""The plain domain values (``Employee``, ``Profile``, ``Member``) from outside data, and back.

The domain keeps these as plain slotted dataclasses that validate nothing (``shared.domain.models``);
what comes from outside is validated here, where it enters: HR records in the providers'
``build_employee`` (leniently, R04 and R25: see ``lenient_employee_fields``), stored items in the
adapters, admin edits in the services. Validation uses pydantic's ``TypeAdapter`` over the
dataclasses (types coerced as JSON has them: ISO dates, lists for tuples, enum values) plus the
checks a dataclass cannot carry: required ids are not empty, versions are not negative, and
unknown fields are refused. Every failure is a ``pydantic.ValidationError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails, from_json

from shared.domain.models import Employee, Member, Profile, lenient_employee_fields

_EMPLOYEE: TypeAdapter[Employee] = TypeAdapter(Employee)
_EMPLOYEES: TypeAdapter[list[Employee]] = TypeAdapter(list[Employee])
_MEMBER: TypeAdapter[Member] = TypeAdapter(Member)
_PROFILE: TypeAdapter[Profile] = TypeAdapter(Profile)

_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {Employee: _EMPLOYEE, Member: _MEMBER, Profile: _PROFILE}

_EMPLOYEE_FIELDS = frozenset(f.name for f in fields(Employee))
_MEMBER_FIELDS = frozenset(f.name for f in fields(Member))
_PROFILE_FIELDS = frozenset(f.name for f in fields(Profile))

Domain = Employee | Member | Profile


def employee_from(data: Mapping[str, Any]) -> Employee:
    """An ``Employee`` from an HR record's mapped fields (lenient: see the module docstring)."""
    _known(data, _EMPLOYEE_FIELDS, "Employee")
    employee = _EMPLOYEE.validate_python(lenient_employee_fields(data))
    _not_empty(employee.hris_id, "hris_id", "Employee")
    return employee


def employees_from_json(data: str | bytes) -> list[Employee]:
    """Employees stored as a JSON list (``to_json`` of each, or ``to_plain`` of them all)."""
    employees = _EMPLOYEES.validate_json(data)
    for index, employee in enumerate(employees):
        _not_empty(employee.hris_id, "hris_id", "Employee", index)
    return employees


def member_from(data: Mapping[str, Any]) -> Member:
    """A ``Member`` from plain values (a stored item's fields, a blob's JSON decoded)."""
    _known(data, _MEMBER_FIELDS, "Member")
    profile = data.get("profile")
    if isinstance(profile, Mapping):
        _known(profile, _PROFILE_FIELDS, "Member", prefix=("profile",))
    return _checked(_MEMBER.validate_python(data))


def member_from_json(data: str | bytes) -> Member:
    """A ``Member`` from its JSON document (``to_json``), as the member store keeps it.

    Decoded with pydantic-core's string cache: the values that repeat across a tenant (its id,
    the connection, departments, titles, locations ...) become one string object each instead of
    one per member, which halves the memory of 100,000 members (bench/reconcile.py)."""
    plain = from_json(data, cache_strings="all")
    if not isinstance(plain, dict):
        return _MEMBER.validate_python(plain)  # raises: not an object
    return member_from(plain)


def profile_from(data: Mapping[str, Any]) -> Profile:
    """A ``Profile`` from plain values (an admin's edit merged over the current profile)."""
    _known(data, _PROFILE_FIELDS, "Profile")
    return _PROFILE.validate_python(data)


def to_plain(
    value: Domain,
    *,
    mode: Literal["json", "python"] = "json",
    exclude: set[str] | None = None,
    warnings: bool = True,
) -> dict[str, Any]:
    """A domain value's fields as plain values (``mode="json"``: JSON-safe). ``warnings=False``
    for a value built with ``dataclasses.replace`` from JSON values (dates still as strings)."""
    plain: dict[str, Any] = _adapter(type(value)).dump_python(
        value, mode=mode, exclude=exclude, warnings=warnings
    )
    return plain


def to_json(value: Domain, *, exclude_none: bool = False) -> str:
    """A domain value as one JSON document."""
    return _adapter(type(value)).dump_json(value, exclude_none=exclude_none).decode()


def _adapter(kind: type[Domain]) -> TypeAdapter[Any]:
    return _ADAPTERS[kind]


def _checked(member: Member) -> Member:
    _not_empty(member.member_id, "member_id", "Member")
    _not_empty(member.tenant_id, "tenant_id", "Member")
    if member.version < 0:
        raise _invalid("Member", "greater_than_equal", ("version",), member.version, {"ge": 0})
    return member


def _known(data: Mapping[str, Any], known: frozenset[str], title: str, prefix: tuple[str, ...] = ()) -> None:
    unknown = [name for name in data if name not in known]
    if unknown:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(type="extra_forbidden", loc=(*prefix, str(name)), input=data[name])
                for name in unknown
            ],
        )


def _not_empty(value: str, name: str, title: str, index: int | None = None) -> None:
    if not value:
        loc = (name,) if index is None else (index, name)
        raise _invalid(title, "string_too_short", loc, value, {"min_length": 1})


def _invalid(
    title: str, kind: str, loc: tuple[str | int, ...], value: Any, context: dict[str, Any]
) -> ValidationError:
    return ValidationError.from_exception_data(
        title, [InitErrorDetails(type=kind, loc=loc, input=value, ctx=context)]
    )
