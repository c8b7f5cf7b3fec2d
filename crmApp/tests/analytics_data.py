"""Builders shared by the analytics tests: a frozen clock, dated records, and another organization's noise."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crmApp.constants import CustomerStatus, LeadStatus
from crmApp.models import Deal, Lead, Membership, Role, UserRole
from crmApp.tests.conftest import make_client
from crmApp.tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    UserFactory,
    default_stage,
)

# A Friday; 30 days before is 2024-02-14 12:00, 60 days before is 2024-01-15 12:00.
NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
ENDPOINTS = ("dashboard", "sales-funnel", "revenue", "employee-performance", "forecast")


def url(endpoint: str) -> str:
    return f"/api/analytics/{endpoint}/"


def at(*parts: int) -> datetime:
    """An aware UTC datetime: at(2024, 3, 10, 23, 59, 59)."""
    return datetime(*parts, tzinfo=UTC)


def freeze(monkeypatch, moment: datetime) -> None:
    """Make `timezone.now()` answer `moment` for the rest of the test."""
    monkeypatch.setattr(timezone, "now", lambda: moment)


@pytest.fixture
def frozen(monkeypatch):
    """The clock stopped at NOW."""
    freeze(monkeypatch, NOW)
    return NOW


LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def customer(org, *, created_at: datetime = LONG_AGO, status: str = CustomerStatus.ACTIVE):
    return CustomerFactory(organization=org, created_at=created_at, status=status)


def lead(org, *, score: int = 0, status: str = LeadStatus.NEW, qualified: bool = False, assigned_to=None) -> Lead:
    """A lead with an exact score; `qualified` stamps qualified_at, as entering `qualified` does."""
    record = LeadFactory(
        organization=org, status=status, assigned_to=assigned_to, qualified_at=at(2024, 1, 2) if qualified else None
    )
    Lead.objects.filter(pk=record.pk).update(score=score)
    return record


def deal(org, stage: str = "Prospecting", value: str = "1000.00", *, closed_at=None, **fields) -> Deal:
    """A deal of the default pipeline in `stage`; `closed_at` overrides the moment it was closed."""
    record = DealFactory(organization=org, stage=default_stage(org, stage), value=Decimal(value), **fields)
    if closed_at is not None:
        Deal.objects.filter(pk=record.pk).update(closed_at=closed_at)
        record.closed_at = closed_at
    return record


def won(org, value: str, closed_at: datetime = NOW - timedelta(days=1), **fields) -> Deal:
    return deal(org, "Closed Won", value, closed_at=closed_at, **fields)


def lost(org, value: str = "500.00", closed_at: datetime = NOW - timedelta(days=1), **fields) -> Deal:
    return deal(org, "Closed Lost", value, closed_at=closed_at, **fields)


def member_with_role(org, role_name: str):
    """A client for a new employee member holding one of the organization's default roles."""
    user = UserFactory()
    Membership.objects.create(user=user, organization=org)
    UserRole.objects.create(user=user, organization=org, role=Role.objects.get(organization=org, name=role_name))
    return make_client(user, org)


def foreign_noise(org) -> None:
    """A rich dataset in another organization, dated on the boundaries the tests use, that must never count."""
    seller = EmployeeFactory(organization=org, first_name="Foreign", last_name="Seller")
    buyer = customer(org)
    for days in (0, 1, 29, 30, 31, 59, 60):
        customer(org, created_at=NOW - timedelta(days=days))
    for status in LeadStatus.values:
        lead(org, score=100, status=status, qualified=status in ("qualified", "converted", "lost"), assigned_to=seller)
    closings = (at(2023, 4, 1), at(2023, 12, 31, 23, 59), at(2024, 1, 1), at(2024, 3, 10, 23, 59, 59), at(2024, 3, 11))
    for closed_at in closings:
        won(org, "99999.99", closed_at, customer=buyer, assigned_to=seller)
        lost(org, "88888.88", closed_at, customer=buyer, assigned_to=seller)
    for month in range(3, 10):
        deal(
            org, "Negotiation", "77777.77", customer=buyer, assigned_to=seller, expected_close_date=date(2024, month, 1)
        )


@pytest.fixture
def noise(other_organization):
    """Fill the other organization with data on every boundary."""
    foreign_noise(other_organization)
    return other_organization
