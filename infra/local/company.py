"""A deterministic, realistic generated company: the people a fake HR system serves.

``generate_company(n, seed, today)`` returns ``n`` vendor-neutral domain ``Employee`` records:

- a few legal entities (one per office country, plus an acquired subsidiary with its own root
  and email domain once the company has 200 people or more);
- divisions -> departments -> teams, each employee carrying ``(division, department, team)`` as
  groups (``department`` and ``company`` are also fields of their own);
- a manager tree: the CEO (and the subsidiary's managing director) are roots; every other
  employee's manager has a smaller index, so the tree has no cycles by construction; fan-out is
  3-9 direct reports per manager, with individual contributors at every level;
- job titles by level and division, an HR role (``Executive``, ``Manager``, ``Employee``,
  ``HR Admin``, ``Contractor``) for role mappings (R18), office locations with home countries
  (a few people live abroad), birthdays, start dates, unique emails and employee numbers;
- a mix of statuses: about 3 % on leave, 4 % terminated (termination date in the past), 1 %
  active with a notice period (termination date in the future), 2 % future hires (start date
  after ``today``; half of them ``pending``). Only people without reports leave or join.

Same ``(n, seed, today)`` -> the same list, on every machine (one ``random.Random(seed)``, no
hash-ordered iteration). Records are built with ``model_construct`` (the values are valid by
construction), so 50,000 people take a fraction of a second.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate

from shared.domain.models import Employee, EmployeeStatus

# The default "today" of a generated company: fixed, so a default call is reproducible.
DEFAULT_TODAY = date(2026, 1, 15)

# Office -> (country, legal entity of the main company).
OFFICES: tuple[tuple[str, str, str], ...] = (
    ("London", "GB", "Northwind Ltd"),
    ("Berlin", "DE", "Northwind GmbH"),
    ("New York", "US", "Northwind Inc."),
    ("San Francisco", "US", "Northwind Inc."),
    ("Paris", "FR", "Northwind SAS"),
)
_OFFICE_CUMULATIVE = tuple(accumulate((30, 20, 25, 15, 10)))
MAIN_DOMAIN = "northwind.example"
SUBSIDIARY = ("Amsterdam", "NL", "Southgate Labs B.V.")
SUBSIDIARY_DOMAIN = "southgate.example"
SUBSIDIARY_MIN_SIZE = 200
_ABROAD = ("ES", "PT", "IE", "PL", "IT", "CA", "SE")

# Division -> its departments (in order) and its individual contributors' titles.
DIVISIONS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "Engineering",
        ("Platform", "Mobile", "Data", "Security", "Quality"),
        ("Software Engineer", "Site Reliability Engineer", "Data Engineer", "QA Engineer"),
    ),
    (
        "Product",
        ("Product Management", "Design", "Research"),
        ("Product Manager", "Product Designer", "UX Researcher"),
    ),
    (
        "Sales",
        ("Enterprise Sales", "Mid-Market Sales", "Sales Operations"),
        ("Account Executive", "Sales Development Representative", "Sales Analyst"),
    ),
    (
        "Customer Success",
        ("Support", "Onboarding", "Account Management"),
        ("Support Specialist", "Onboarding Specialist", "Customer Success Manager"),
    ),
    (
        "Marketing",
        ("Brand", "Growth", "Communications"),
        ("Marketing Manager", "Content Writer", "Growth Analyst"),
    ),
    (
        "Operations",
        ("Finance", "Legal", "Facilities", "IT"),
        ("Accountant", "Legal Counsel", "Office Coordinator", "IT Specialist"),
    ),
    (
        "People",
        ("Recruiting", "People Operations", "Learning"),
        ("Recruiter", "People Partner", "Learning Specialist"),
    ),
)
_TEAM_NAMES = (
    "Atlas", "Borealis", "Comet", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris",
    "Juniper", "Kestrel", "Lumen", "Meridian", "Nova", "Orion", "Pioneer", "Quartz", "Raven",
    "Summit", "Tundra", "Umbra", "Vega", "Willow", "Zephyr",
)  # fmt: skip
_SENIORITY = ("Junior ", "", "", "Senior ", "Senior ", "Staff ")

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Anika", "Ben", "Bianca", "Carlos", "Chen", "Chloe", "Dana",
    "David", "Diego", "Elena", "Emeka", "Emma", "Fatima", "Felix", "Freya", "Gabriel", "Grace",
    "Hana", "Hugo", "Ines", "Isaac", "Ivy", "Jamal", "Jana", "Jonas", "Julia", "Kai", "Karin",
    "Kenji", "Lara", "Leon", "Lina", "Lucas", "Maya", "Mateo", "Mei", "Mila", "Nadia", "Niels",
    "Noah", "Nora", "Omar", "Olivia", "Paul", "Priya", "Quinn", "Rafael", "Rosa", "Sam", "Sara",
    "Sofia", "Tariq", "Theo", "Uma", "Victor", "Wen", "Yara", "Yusuf", "Zoe", "Zain", "Aoife",
    "Bjorn", "Camille", "Dmitri", "Eva", "Farid", "Greta", "Hamza", "Ingrid", "Joao", "Lea",
    "Malik", "Marta", "Nikos", "Pablo", "Ravi", "Sven", "Tomas", "Valentina", "Xavier", "Yuki",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Ahmed", "Alvarez", "Andersson", "Bauer", "Becker", "Bianchi", "Brown", "Chen",
    "Costa", "Dubois", "Dupont", "Evans", "Fischer", "Garcia", "Gonzalez", "Hansen", "Hoffmann",
    "Ibrahim", "Ivanova", "Jansen", "Johnson", "Kaur", "Kim", "Klein", "Kowalski", "Larsen",
    "Laurent", "Lee", "Lopez", "Martin", "Meyer", "Moreau", "Muller", "Murphy", "Nakamura",
    "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Perez", "Petrov", "Rossi", "Santos",
    "Schmidt", "Schneider", "Silva", "Singh", "Smith", "Sousa", "Tanaka", "Taylor", "Thomas",
    "Vasquez", "Wagner", "Walker", "Weber", "Williams", "Wilson", "Wright", "Yamamoto", "Young",
    "Zhang", "Zimmermann", "Haddad", "Mensah", "Osei", "Rahman", "Sato", "Virtanen", "Horvat",
)  # fmt: skip

_ON_LEAVE_PCT = 3.0
_TERMINATED_PCT = 4.0
_NOTICE_PCT = 1.0
_FUTURE_PCT = 2.0
_FIRST_START = date(2012, 1, 1)


@dataclass(slots=True)
class _Slot:
    """An org position while the tree is built (before it becomes an Employee)."""

    manager: int | None
    depth: int
    division: int
    department: int
    team: str
    subsidiary: bool
    reports: int = 0


def generate_company(n: int, seed: int = 7, today: date = DEFAULT_TODAY) -> list[Employee]:
    """``n`` employees of a generated company, deterministic for ``(n, seed, today)``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    subsidiary = n // 10 if n >= SUBSIDIARY_MIN_SIZE else 0
    slots: list[_Slot] = []
    _grow(slots, n - subsidiary, rng, subsidiary=False)
    _grow(slots, subsidiary, rng, subsidiary=True)
    return _employees(slots, rng, today)


def _grow(slots: list[_Slot], count: int, rng: random.Random, *, subsidiary: bool) -> None:
    """Add one tree of ``count`` positions, breadth first: a manager's index is below its reports'."""
    if count == 0:
        return
    root = len(slots)
    team = "Southgate Leadership" if subsidiary else "Executive Team"
    slots.append(_Slot(None, 0, 0 if subsidiary else -1, 0, team, subsidiary))
    # Managers with open places: [index, places left].
    open_managers: deque[list[int]] = deque([[root, rng.randint(4, 7) if subsidiary else len(DIVISIONS)]])
    for index in range(root + 1, root + count):
        entry = open_managers[0]
        manager = slots[entry[0]]
        entry[1] -= 1
        if entry[1] == 0:
            open_managers.popleft()
        if manager.reports == 0 and manager.depth > 0:
            # A manager leads (and belongs to) a team of their own from their first report on.
            manager.team = _team_name(manager, index)
        manager.reports += 1
        slot = _child_of(entry[0], manager, rng)
        slots.append(slot)
        if slot.depth == 1 and not subsidiary:
            open_managers.append([index, len(DIVISIONS[slot.division][1])])
        elif (slot.depth == 2 and not subsidiary) or rng.random() < 0.22 or not open_managers:
            open_managers.append([index, 3 + int(rng.random() * 7)])


def _child_of(manager_index: int, manager: _Slot, rng: random.Random) -> _Slot:
    depth = manager.depth + 1
    if manager.manager is None and not manager.subsidiary:
        # The CEO's reports head one division each.
        return _Slot(manager_index, depth, manager.reports - 1, -1, "Executive Team", subsidiary=False)
    division = manager.division
    department = manager.department
    if manager.depth == 1 and not manager.subsidiary:
        # A division head's reports head one department each (then more of the same).
        department = (manager.reports - 1) % len(DIVISIONS[division][1])
    elif manager.subsidiary and manager.manager is None:
        department = _below(rng, len(DIVISIONS[division][1]))
    # Reports belong to their manager's team (ICs); managers get their own team on promotion.
    return _Slot(manager_index, depth, division, department, manager.team, manager.subsidiary)


def _team_name(slot: _Slot, counter: int) -> str:
    if slot.depth == 1 and not slot.subsidiary:
        return f"{DIVISIONS[slot.division][0]} Leadership"
    department = DIVISIONS[slot.division][1][max(slot.department, 0)]
    prefix = "Southgate " if slot.subsidiary else ""
    return f"{prefix}{department} {_TEAM_NAMES[counter % len(_TEAM_NAMES)]} {counter}"


def _employees(slots: list[_Slot], rng: random.Random, today: date) -> list[Employee]:
    leavers = _pick_leavers(slots, rng)
    emails: set[str] = set()
    out: list[Employee] = []
    span = max((today - _FIRST_START).days, 1)
    for index, slot in enumerate(slots):
        first = FIRST_NAMES[_below(rng, len(FIRST_NAMES))]
        last = LAST_NAMES[_below(rng, len(LAST_NAMES))]
        email = _unique_email(first, last, SUBSIDIARY_DOMAIN if slot.subsidiary else MAIN_DOMAIN, emails)
        if slot.subsidiary:
            office, country, company = SUBSIDIARY
        else:
            draw = rng.random() * _OFFICE_CUMULATIVE[-1]
            office, country, company = OFFICES[bisect_right(_OFFICE_CUMULATIVE, draw)]
        home = _ABROAD[_below(rng, len(_ABROAD))] if rng.random() < 0.04 else country
        division_name, departments, titles = DIVISIONS[max(slot.division, 0)]
        groups: tuple[str, ...]
        if slot.division < 0:  # the CEO
            department, groups = "Executive", ("Executive", slot.team)
        else:  # a division head's department is the division itself
            department = departments[slot.department] if slot.department >= 0 else division_name
            groups = tuple(dict.fromkeys((division_name, department, slot.team)))
        # Seniors joined earlier on average: the start date is biased by depth in the tree.
        start = _FIRST_START + timedelta(days=int(span * rng.random() ** (1.0 / (1 + slot.depth * 0.4))))
        status = EmployeeStatus.ACTIVE
        termination: date | None = None
        kind = leavers.get(index)
        if kind == "terminated":
            status = EmployeeStatus.TERMINATED
            start = min(start, today - timedelta(days=60))
            termination = start + timedelta(days=30 + _below(rng, max((today - start).days - 30, 1)))
        elif kind == "notice":
            termination = today + timedelta(days=1 + _below(rng, 45))
        elif kind == "on_leave":
            status = EmployeeStatus.ON_LEAVE
        elif kind == "future":
            start = today + timedelta(days=1 + _below(rng, 60))
            status = EmployeeStatus.PENDING if rng.random() < 0.5 else EmployeeStatus.ACTIVE
        hris_id = str(1001 + index)
        out.append(
            Employee.model_construct(
                hris_id=hris_id,
                first_name=first,
                last_name=last,
                email=email,
                employee_number=f"E{index + 1:06d}",
                avatar_url=f"https://avatars.{MAIN_DOMAIN}/{hris_id}.png" if index % 5 else None,
                job_title=_title(slot, division_name, department, titles, rng),
                department=department,
                company=company,
                groups=groups,
                office_location=office,
                home_country=home,
                birthday=date(1960 + _below(rng, 44), 1 + _below(rng, 12), 1 + _below(rng, 28)),
                start_date=start,
                termination_date=termination,
                manager_hris_id=None if slot.manager is None else str(1001 + slot.manager),
                hris_role=_role(slot, division_name, rng),
                status=status,
                raw_status=status.value,
                warnings=(),
                raw={},
            )
        )
    return out


def _pick_leavers(slots: list[_Slot], rng: random.Random) -> dict[int, str]:
    """Which people (all without reports) are on leave, terminated, on notice or not started."""
    leavers: dict[int, str] = {}
    for index, slot in enumerate(slots):
        if slot.manager is None:
            continue
        draw = rng.random() * 100
        if draw < _ON_LEAVE_PCT:
            leavers[index] = "on_leave"
        elif slot.reports:
            continue
        elif draw < _ON_LEAVE_PCT + _TERMINATED_PCT:
            leavers[index] = "terminated"
        elif draw < _ON_LEAVE_PCT + _TERMINATED_PCT + _NOTICE_PCT:
            leavers[index] = "notice"
        elif draw < _ON_LEAVE_PCT + _TERMINATED_PCT + _NOTICE_PCT + _FUTURE_PCT:
            leavers[index] = "future"
    return leavers


def _unique_email(first: str, last: str, domain: str, taken: set[str]) -> str:
    local = f"{first}.{last}".lower()
    email = f"{local}@{domain}"
    suffix = 1
    while email in taken:
        suffix += 1
        email = f"{local}{suffix}@{domain}"
    taken.add(email)
    return email


def _title(slot: _Slot, division: str, department: str, titles: tuple[str, ...], rng: random.Random) -> str:
    if slot.manager is None:
        return "Managing Director" if slot.subsidiary else "Chief Executive Officer"
    if slot.depth == 1 and not slot.subsidiary:
        return f"VP of {division}"
    if slot.reports and slot.depth == 2:
        return f"Director of {department}"
    if slot.reports:
        return f"{department} Manager" if rng.random() < 0.5 else f"{department} Team Lead"
    return _SENIORITY[_below(rng, len(_SENIORITY))] + titles[_below(rng, len(titles))]


def _role(slot: _Slot, division: str, rng: random.Random) -> str:
    if slot.depth <= 1 and not slot.subsidiary:
        return "Executive"
    if slot.reports:
        return "Manager"
    if division == "People":
        return "HR Admin"
    return "Contractor" if rng.random() < 0.03 else "Employee"


def _below(rng: random.Random, k: int) -> int:
    """A uniform integer in ``[0, k)`` (cheaper than ``randrange``, and as deterministic)."""
    return int(rng.random() * k)
