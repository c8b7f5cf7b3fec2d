"""Per-organization record codes: formatted, sequential, and unique under concurrent creates."""

import threading

import pytest
from django.core.management import call_command
from django.db import connections

from crmApp.models import CodeSequence, Lead, User
from crmApp.services.organization_service import create_organization
from crmApp.tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    UserFactory,
    VendorFactory,
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("factory", "prefix"),
    [
        (EmployeeFactory, "EMP"),
        (VendorFactory, "VEN"),
        (CustomerFactory, "CUST"),
        (LeadFactory, "LEAD"),
        (DealFactory, "DEAL"),
    ],
)
def test_codes_count_per_organization_and_prefix(organization, other_organization, factory, prefix):
    first, second = factory(organization=organization), factory(organization=organization)
    elsewhere = factory(organization=other_organization)
    assert (first.code, second.code, elsewhere.code) == (f"{prefix}-0001", f"{prefix}-0002", f"{prefix}-0001")


@pytest.mark.django_db
def test_codes_keep_counting_past_four_digits(organization):
    CodeSequence.objects.create(organization=organization, prefix="LEAD", last_value=9999)
    assert LeadFactory(organization=organization).code == "LEAD-10000"


@pytest.mark.django_db
def test_a_deleted_records_code_is_never_handed_out_again(organization):
    LeadFactory(organization=organization)
    LeadFactory(organization=organization).delete()
    assert LeadFactory(organization=organization).code == "LEAD-0003"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_creates_in_a_new_organization_get_unique_consecutive_codes():
    organization = create_organization(name="Race", owner=UserFactory())
    writers = 8
    barrier = threading.Barrier(writers)
    errors = []

    def create(index):
        try:
            barrier.wait()  # every writer asks for a code at once, before any counter row exists
            Lead(organization=organization, first_name=f"Writer {index}").save()
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    codes = sorted(Lead.objects.filter(organization=organization).values_list("code", flat=True))
    assert codes == [f"LEAD-{number:04d}" for number in range(1, writers + 1)]
    assert CodeSequence.objects.get(organization=organization, prefix="LEAD").last_value == writers


@pytest.mark.django_db
def test_createsuperuser_takes_an_email_as_the_login(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Sup3r-secret-pass")
    call_command("createsuperuser", "--noinput", "--email", "Boss@Example.com", verbosity=0)
    user = User.objects.get(email="boss@example.com")
    assert user.is_superuser and user.is_staff and user.check_password("Sup3r-secret-pass")
