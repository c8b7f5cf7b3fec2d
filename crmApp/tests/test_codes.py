"""Per-organization record codes: formatted, rising, and unique under concurrent creates."""

import threading

import pytest
from django.core.management import call_command
from django.db import transaction

from crmApp.models import CodeSequence, Lead, User
from crmApp.services.organization_service import create_organization
from crmApp.tests.conftest import close_thread_connections
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
            close_thread_connections()  # this thread's own connections; close_old_connections keeps them

    threads = [threading.Thread(target=create, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    codes = sorted(Lead.objects.filter(organization=organization).values_list("code", flat=True))
    assert codes == [f"LEAD-{number:04d}" for number in range(1, writers + 1)]
    assert CodeSequence.objects.get(organization=organization, prefix="LEAD").last_value == writers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_open_create_does_not_hold_up_the_next_create_of_its_organization():
    organization = create_organization(name="Open", owner=UserFactory())
    Lead(organization=organization, first_name="First").save()  # the counter row is committed
    first_numbered, second_done = threading.Event(), threading.Event()
    codes = {}

    def hold_open():
        try:
            with transaction.atomic():
                lead = Lead(organization=organization, first_name="Held")
                lead.save()
                codes["held"] = lead.code
                first_numbered.set()
                second_done.wait(timeout=10)  # still open while the other create runs
        finally:
            close_thread_connections()

    def create_meanwhile():
        try:
            first_numbered.wait(timeout=10)
            lead = Lead(organization=organization, first_name="Meanwhile")
            lead.save()
            codes["meanwhile"] = lead.code
            second_done.set()
        finally:
            close_thread_connections()

    threads = [threading.Thread(target=hold_open), threading.Thread(target=create_meanwhile)]
    for thread in threads:
        thread.start()
    assert second_done.wait(timeout=5), "the second create waited for the first one's transaction"
    for thread in threads:
        thread.join()
    assert codes == {"held": "LEAD-0002", "meanwhile": "LEAD-0003"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_create_leaves_a_gap_in_the_codes():
    organization = create_organization(name="Gap", owner=UserFactory())
    Lead(organization=organization, first_name="Kept").save()
    with pytest.raises(RuntimeError), transaction.atomic():
        Lead(organization=organization, first_name="Rolled back").save()
        raise RuntimeError
    Lead(organization=organization, first_name="Next").save()
    codes = sorted(Lead.objects.filter(organization=organization).values_list("code", flat=True))
    assert codes == ["LEAD-0001", "LEAD-0003"]


@pytest.mark.django_db
def test_createsuperuser_takes_an_email_as_the_login(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Sup3r-secret-pass")
    call_command("createsuperuser", "--noinput", "--email", "Boss@Example.com", verbosity=0)
    user = User.objects.get(email="boss@example.com")
    assert user.is_superuser and user.is_staff and user.check_password("Sup3r-secret-pass")
