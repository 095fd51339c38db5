"""The fake HR system's mutable company: domain employees plus what a vendor keeps beside them.

Every vendor fake renders the same company in its own JSON, so one hire shows up the same way in
BambooHR, Personio, HiBob, Employment Hero and Merge. Changes go through methods that return a
``Change`` (what the vendor's webhook for it would say). Thread-safe: the HTTP server's threads
read while a test or the admin endpoint writes.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from shared.codecs import employee_from, to_plain
from shared.domain.models import SYNCED_FIELDS, Employee, EmployeeStatus

_VENDOR_IDS = uuid.UUID("b0c4a1f2-6d3e-4f5a-8b9c-0d1e2f3a4b5c")

ChangeKind = Literal["created", "updated", "deleted"]

# Fields an admin change may set (the domain names).
MUTABLE_FIELDS: frozenset[str] = frozenset({*SYNCED_FIELDS, "hris_role", "status"})


class UnknownEmployee(LookupError):
    """No employee with that id in the fake company."""


class InvalidChange(ValueError):
    """An admin change the fake cannot apply (unknown field, bad value)."""


def vendor_uuid(kind: str, key: str) -> str:
    """A stable UUID for a vendor object (Merge and Employment Hero ids are UUIDs)."""
    return str(uuid.uuid5(_VENDOR_IDS, f"{kind}:{key}"))


@dataclass
class Person:
    """One employee as the fake HR system stores them."""

    id: int
    employee: Employee
    created_at: datetime
    updated_at: datetime
    deleted: bool = False
    version: int = 0

    @property
    def key(self) -> str:
        return str(self.id)

    @property
    def division(self) -> str | None:
        """The first group that is neither the department nor the company (a division or team)."""
        e = self.employee
        for group in e.groups:
            if group not in (e.department, e.company):
                return group
        return None


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    person_id: int
    changed_fields: tuple[str, ...]
    at: datetime
    # What happened in HR terms (hired, terminated, moved, manager_changed, leave_started ...).
    event: str = "updated"


@dataclass
class Catalog:
    """Stable small integer ids for departments, divisions, offices and companies, by name."""

    ids: dict[str, dict[str, int]] = field(default_factory=dict)

    def id_for(self, kind: str, name: str) -> int:
        table = self.ids.get(kind)
        if table is None:
            table = self.ids[kind] = {}
        found = table.get(name)
        if found is None:
            found = table[name] = len(table) + 1
        return found

    def names(self, kind: str) -> dict[str, int]:
        return dict(self.ids.get(kind, {}))


class FakeCompany:
    """A company of employees, keyed by the fake's numeric employee id (``str(id)`` = hris id)."""

    def __init__(
        self,
        employees: Iterable[Employee],
        *,
        company_name: str = "Acme Corp",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self.company_name = company_name
        self.catalog = Catalog()
        self._people: dict[int, Person] = {}
        self._order: list[int] = []
        self._changes: list[Change] = []
        self._people_view: tuple[tuple[int, bool], list[Person]] | None = None
        now = self._clock()
        source = list(employees)
        renumber = not all(e.hris_id.isdigit() for e in source) or len(
            {int(e.hris_id) for e in source if e.hris_id.isdigit()}
        ) != len(source)
        mapping: dict[str, str] = {}
        for index, e in enumerate(source, start=1):
            mapping[e.hris_id] = str(index) if renumber else str(int(e.hris_id))
        for e in source:
            new_id = mapping[e.hris_id]
            manager = mapping.get(e.manager_hris_id) if e.manager_hris_id else None
            employee = e
            if new_id != e.hris_id or manager != e.manager_hris_id:
                employee = replace(e, hris_id=new_id, manager_hris_id=manager)
            self._insert(Person(id=int(new_id), employee=employee, created_at=now, updated_at=now))
        self._order.sort()
        self._next_id = max(self._order, default=0) + 1

    # -- reading --------------------------------------------------------------------------------

    def _insert(self, person: Person) -> None:
        self._people[person.id] = person
        self._order.append(person.id)
        self._register(person.employee)

    def _register(self, e: Employee) -> None:
        for kind, name in (("department", e.department), ("office", e.office_location)):
            if name:
                self.catalog.id_for(kind, name)
        self.catalog.id_for("company", e.company or self.company_name)
        for group in e.groups:
            self.catalog.id_for("group", group)

    def __len__(self) -> int:
        return len(self._order)

    def ids(self) -> list[int]:
        """Every employee id in id order (deleted ones included)."""
        with self._lock:
            return list(self._order)

    @property
    def revision(self) -> int:
        """Grows with every change: views derived from the company can be cached per revision."""
        return len(self._changes)

    def people(self, *, include_deleted: bool = False) -> list[Person]:
        """Everyone in id order (a shared list: do not mutate it)."""
        with self._lock:
            key = (self.revision, include_deleted)
            if self._people_view is None or self._people_view[0] != key:
                everyone = (self._people[i] for i in self._order)
                people = [p for p in everyone if include_deleted or not p.deleted]
                self._people_view = (key, people)
            return self._people_view[1]

    def get(self, person_id: int | str) -> Person:
        try:
            return self._people[int(person_id)]
        except (KeyError, ValueError):
            raise UnknownEmployee(f"no employee {person_id!r}") from None

    def find(self, person_id: int | str) -> Person | None:
        try:
            return self._people.get(int(person_id))
        except ValueError:
            return None

    def employees(self, *, include_deleted: bool = False) -> list[Employee]:
        """The company as domain employees (what a connector should end up with)."""
        return [p.employee for p in self.people(include_deleted=include_deleted)]

    def changes_since(self, since: datetime) -> list[Change]:
        with self._lock:
            return [c for c in self._changes if c.at > since]

    def changes(self) -> list[Change]:
        with self._lock:
            return list(self._changes)

    def today(self) -> date:
        return self._clock().date()

    def now(self) -> datetime:
        return self._clock()

    # -- changing -------------------------------------------------------------------------------

    def _record(self, person: Person, kind: ChangeKind, fields: Sequence[str], event: str) -> Change:
        at = self._clock()
        person.updated_at = at
        person.version += 1
        change = Change(kind=kind, person_id=person.id, changed_fields=tuple(fields), at=at, event=event)
        self._changes.append(change)
        return change

    def _apply(self, person_id: int | str, updates: dict[str, Any], event: str) -> Change:
        unknown = set(updates) - MUTABLE_FIELDS
        if unknown:
            raise InvalidChange(f"fields that cannot be changed: {sorted(unknown)}")
        with self._lock:
            person = self.get(person_id)
            if person.deleted:
                raise UnknownEmployee(f"employee {person_id!r} was deleted")
            manager = updates.get("manager_hris_id")
            if manager is not None:
                if str(manager) == person.key:
                    raise InvalidChange("an employee cannot manage themselves")
                self.get(manager)
                updates["manager_hris_id"] = str(int(manager))
            before = to_plain(person.employee, mode="python")
            data = {**before, **updates}
            data.pop("warnings", None)
            try:
                employee = employee_from(data)
            except ValueError as exc:
                raise InvalidChange(str(exc).splitlines()[0]) from None
            after = to_plain(employee, mode="python")
            changed = [name for name in sorted(MUTABLE_FIELDS) if before.get(name) != after.get(name)]
            person.employee = employee
            self._register(employee)
            return self._record(person, "updated", changed, event)

    def hire(
        self,
        first_name: str,
        last_name: str,
        *,
        email: str | None = None,
        job_title: str | None = None,
        department: str | None = None,
        company: str | None = None,
        groups: Sequence[str] = (),
        office_location: str | None = None,
        home_country: str | None = None,
        birthday: date | None = None,
        start_date: date | None = None,
        manager_id: int | str | None = None,
        employee_number: str | None = None,
    ) -> tuple[Person, Change]:
        """Add an employee; a start date in the future makes them a pending hire."""
        with self._lock:
            if manager_id is not None:
                self.get(manager_id)
            new_id = self._next_id
            self._next_id += 1
            start = start_date or self.today()
            status = EmployeeStatus.PENDING if start > self.today() else EmployeeStatus.ACTIVE
            domain = email.split("@", 1)[1] if email and "@" in email else "example.com"
            employee = Employee(
                hris_id=str(new_id),
                first_name=first_name,
                last_name=last_name,
                email=email or f"{first_name}.{last_name}.{new_id}@{domain}".lower().replace(" ", ""),
                employee_number=employee_number or f"E{new_id:06d}",
                job_title=job_title,
                department=department,
                company=company or self.company_name,
                groups=tuple(groups) or tuple(g for g in (department,) if g),
                office_location=office_location,
                home_country=home_country,
                birthday=birthday,
                start_date=start,
                manager_hris_id=str(int(manager_id)) if manager_id is not None else None,
                status=status,
            )
            now = self._clock()
            person = Person(id=new_id, employee=employee, created_at=now, updated_at=now)
            self._insert(person)
            fields = [n for n in sorted(MUTABLE_FIELDS) if getattr(employee, n) not in (None, ())]
            return person, self._record(person, "created", fields, "hired")

    def terminate(self, person_id: int | str, *, on: date | None = None) -> Change:
        """Terminate on a date (today by default); a future date keeps them active until then."""
        when = on or self.today()
        status = EmployeeStatus.TERMINATED if when <= self.today() else None
        updates: dict[str, Any] = {"termination_date": when}
        if status is not None:
            updates["status"] = status
        return self._apply(person_id, updates, "terminated")

    def rehire(self, person_id: int | str, *, on: date | None = None) -> Change:
        return self._apply(
            person_id,
            {"termination_date": None, "status": EmployeeStatus.ACTIVE, "start_date": on or self.today()},
            "rehired",
        )

    def move(
        self,
        person_id: int | str,
        *,
        department: str | None = None,
        company: str | None = None,
        office_location: str | None = None,
        groups: Sequence[str] | None = None,
    ) -> Change:
        """Move to another department, company, office or set of groups."""
        person = self.get(person_id)
        updates: dict[str, Any] = {}
        if department is not None:
            updates["department"] = department
            old = person.employee.department
            current = list(groups if groups is not None else person.employee.groups)
            updates["groups"] = tuple(department if g == old else g for g in current) or (department,)
            if department not in updates["groups"]:
                updates["groups"] = (department, *updates["groups"])
        elif groups is not None:
            updates["groups"] = tuple(groups)
        if company is not None:
            updates["company"] = company
        if office_location is not None:
            updates["office_location"] = office_location
        if not updates:
            raise InvalidChange("a move names a department, company, office or groups")
        return self._apply(person_id, updates, "moved")

    def change_manager(self, person_id: int | str, manager_id: int | str | None) -> Change:
        if manager_id is None:
            return self._apply(person_id, {"manager_hris_id": None}, "manager_changed")
        return self._apply(person_id, {"manager_hris_id": manager_id}, "manager_changed")

    def start_leave(self, person_id: int | str) -> Change:
        return self._apply(person_id, {"status": EmployeeStatus.ON_LEAVE}, "leave_started")

    def end_leave(self, person_id: int | str) -> Change:
        return self._apply(person_id, {"status": EmployeeStatus.ACTIVE}, "leave_ended")

    def update(self, person_id: int | str, **fields: Any) -> Change:
        return self._apply(person_id, dict(fields), "updated")

    def delete(self, person_id: int | str) -> Change:
        """Remove the record from the HR system (a data-entry mistake, GDPR erasure)."""
        with self._lock:
            person = self.get(person_id)
            if person.deleted:
                raise UnknownEmployee(f"employee {person_id!r} was already deleted")
            person.deleted = True
            return self._record(person, "deleted", (), "deleted")

    def snapshot(self) -> Iterator[Person]:
        """A consistent view for one rendering pass."""
        with self._lock:
            people = [self._people[i] for i in self._order]
        yield from people
