"""Vendor status values -> ``active | on_leave | terminated | pending``, explicitly, per vendor.

An unknown or missing value is never guessed silently (R04): it maps to ``active`` (the domain's
lenient default) with ``known = False``, so the employee is marked ``status_unknown`` and the run
lists it with the raw value; it also carries a warning naming the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.domain.models import EmployeeStatus


@dataclass(frozen=True, slots=True)
class MappedStatus:
    status: EmployeeStatus
    raw: str | None
    warning: str | None = None
    # False when the vendor sent no status or one this map does not know (R04: kept active, reported).
    known: bool = True


@dataclass(frozen=True, slots=True)
class StatusMap:
    vendor: str
    values: Mapping[str, EmployeeStatus]
    # What a missing status means for this vendor (None: report it like an unknown value).
    missing: EmployeeStatus | None = None

    def map(self, raw: object) -> MappedStatus:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if self.missing is not None:
                return MappedStatus(self.missing, None)
            return MappedStatus(
                EmployeeStatus.ACTIVE, None, f"{self.vendor}: no status; treated as active", known=False
            )
        text = str(raw).strip()
        known = self.values.get(text.casefold())
        if known is not None:
            return MappedStatus(known, text)
        return MappedStatus(
            EmployeeStatus.ACTIVE,
            text,
            f"{self.vendor}: unknown status {text[:40]!r} treated as active",
            known=False,
        )

    def knows(self, raw: object) -> bool:
        return isinstance(raw, str) and raw.strip().casefold() in self.values


def status_map(vendor: str, missing: EmployeeStatus | None = None, **groups: tuple[str, ...]) -> StatusMap:
    """Build a map from ``active=(...), on_leave=(...), terminated=(...), pending=(...)``."""
    values: dict[str, EmployeeStatus] = {}
    for status_name, raws in groups.items():
        status = EmployeeStatus(status_name)
        for raw in raws:
            values[raw.casefold()] = status
    return StatusMap(vendor, values, missing)
