"""Versions, ETags, If-Match / If-None-Match, partial writes under a row lock, and simultaneous deletes."""

import threading

import pytest

from crmApp.exceptions import RecordGone
from crmApp.models import Customer, Deal, Lead, PipelineStage, Team
from crmApp.services.customer_service import CustomerService
from crmApp.services.lead_service import LeadService
from crmApp.services.organization_service import create_organization
from crmApp.tenancy import Tenant
from crmApp.tests.conftest import run_together
from crmApp.tests.factories import (
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    RoleFactory,
    VendorFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

# resource -> (factory of one record, a field change a PATCH may make)
RESOURCES = {
    "employees": (lambda org: EmployeeFactory(organization=org), {"department": "Sales"}),
    "vendors": (lambda org: VendorFactory(organization=org), {"vendor_type": "Hardware"}),
    "customers": (lambda org: CustomerFactory(organization=org), {"city": "Oslo"}),
    "leads": (lambda org: LeadFactory(organization=org), {"company": "Initech"}),
    "pipelines": (lambda org: PipelineFactory(organization=org), {"name": "Renewals"}),
    "pipeline-stages": (
        lambda org: PipelineStageFactory(pipeline=PipelineFactory(organization=org), organization=org),
        {"name": "Demo"},
    ),
    "deals": (lambda org: DealFactory(organization=org), {"title": "Bigger deal"}),
}
EVERY_RESOURCE = pytest.mark.parametrize("resource", sorted(RESOURCES))


def detail(resource: str, record) -> str:
    return f"/api/{resource}/{record.id}/"


@EVERY_RESOURCE
def test_versions_start_at_1_and_move_on_with_every_change(resource, owner_client, organization):
    make, change = RESOURCES[resource]
    record = make(organization)

    read = owner_client.get(detail(resource, record))
    assert (read.json()["version"], read["ETag"]) == (1, '"1"')

    changed = owner_client.patch(detail(resource, record), change, format="json")
    assert (changed.status_code, changed.json()["version"], changed["ETag"]) == (200, 2, '"2"')

    unchanged = owner_client.patch(detail(resource, record), change, format="json")
    assert (unchanged.json()["version"], unchanged["ETag"]) == (2, '"2"')  # the same values are no change


@EVERY_RESOURCE
@pytest.mark.parametrize("if_match", ['"7"', 'W/"1"', "1", "garbage", '"1 "', '"01"', '"\u00b2"'])
def test_a_write_whose_if_match_does_not_match_is_412_and_changes_nothing(
    resource, owner_client, organization, if_match
):
    make, change = RESOURCES[resource]
    record = make(organization)

    for method, body in (("patch", change), ("put", change), ("delete", None)):
        response = getattr(owner_client, method)(detail(resource, record), body, format="json", HTTP_IF_MATCH=if_match)
        if method == "put" and response.status_code == 400:
            continue  # a partial body is not a whole record; the precondition is checked after the body
        assert (response.status_code, response.json()["code"]) == (412, "precondition_failed"), method
    assert type(record)._base_manager.filter(pk=record.pk, version=1).exists()


@EVERY_RESOURCE
@pytest.mark.parametrize("if_match", ['"1"', "*", '"9", "1"'])
def test_a_matching_if_match_lets_the_write_through(resource, owner_client, organization, if_match):
    make, change = RESOURCES[resource]
    record = make(organization)

    response = owner_client.patch(detail(resource, record), change, format="json", HTTP_IF_MATCH=if_match)

    assert (response.status_code, response.json()["version"]) == (200, 2)


@EVERY_RESOURCE
def test_if_none_match_with_the_current_etag_is_304_without_a_body(resource, owner_client, organization):
    make, change = RESOURCES[resource]
    record = make(organization)
    etag = owner_client.get(detail(resource, record))["ETag"]

    not_modified = owner_client.get(detail(resource, record), HTTP_IF_NONE_MATCH=etag)
    assert (not_modified.status_code, not_modified.content, not_modified["ETag"]) == (304, b"", etag)

    owner_client.patch(detail(resource, record), change, format="json")
    assert owner_client.get(detail(resource, record), HTTP_IF_NONE_MATCH=etag).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("win/", {}),
        ("lose/", {"lost_reason": "Price"}),
        ("move-stage/", "stage"),
    ],
)
def test_record_actions_honour_if_match_and_answer_the_record_with_its_etag(owner_client, organization, path, body):
    deal = DealFactory(organization=organization)
    if body == "stage":
        body = {"stage": default_stage(organization, "Proposal").id}
    url = f"/api/deals/{deal.id}/{path}"

    refused = owner_client.post(url, body, format="json", HTTP_IF_MATCH='"2"')
    assert refused.status_code == 412
    assert Deal.objects.get(pk=deal.pk).stage_id == deal.stage_id

    moved = owner_client.post(url, body, format="json", HTTP_IF_MATCH='"1"')
    assert (moved.status_code, moved.json()["version"], moved["ETag"]) == (200, 2, '"2"')


def test_assign_and_convert_honour_if_match(owner_client, organization):
    lead = LeadFactory(organization=organization, status="qualified", last_name="Lovelace")
    employee = EmployeeFactory(organization=organization)

    assert (
        owner_client.post(
            f"/api/leads/{lead.id}/assign/", {"employee": employee.id}, format="json", HTTP_IF_MATCH='"5"'
        ).status_code
        == 412
    )
    assigned = owner_client.post(
        f"/api/leads/{lead.id}/assign/", {"employee": employee.id}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert (assigned.status_code, assigned["ETag"]) == (200, '"2"')
    assert (
        owner_client.post(f"/api/leads/{lead.id}/convert/", {}, format="json", HTTP_IF_MATCH='"1"').status_code == 412
    )
    assert not Customer.objects.filter(converted_from_lead=lead).exists()
    assert (
        owner_client.post(f"/api/leads/{lead.id}/convert/", {}, format="json", HTTP_IF_MATCH='"2"').status_code == 201
    )
    assert Lead.objects.get(pk=lead.pk).version == 3


def test_a_patch_writes_only_the_fields_it_was_sent(owner_client, organization):
    customer = CustomerFactory(organization=organization, city="Oslo", phone="1")
    # Another writer changes the phone after this client read the record.
    stale = Customer.objects.get(pk=customer.pk)
    CustomerService(Tenant.system(organization)).update(customer, phone="2")

    CustomerService(Tenant.system(organization)).update(stale, city="Bergen")

    fresh = Customer.objects.get(pk=customer.pk)
    assert (fresh.city, fresh.phone, fresh.version) == ("Bergen", "2", 3)


def test_bulk_update_moves_the_version_of_the_records_it_changes_only(owner_client, organization):
    changing, unchanged = CustomerFactory(organization=organization), CustomerFactory(organization=organization)
    Customer.objects.filter(pk=unchanged.pk).update(status="inactive")

    response = owner_client.post(
        "/api/customers/bulk-update/",
        {"ids": [changing.id, unchanged.id], "data": {"status": "inactive"}},
        format="json",
    )

    assert response.json() == {"updated": 2}
    versions = dict(Customer.objects.values_list("id", "version"))
    assert (versions[changing.id], versions[unchanged.id]) == (2, 1)


def test_a_stage_probability_change_moves_the_version_of_its_deals(owner_client, organization):
    deal = DealFactory(organization=organization)
    owner_client.patch(f"/api/pipeline-stages/{deal.stage_id}/", {"probability": 30}, format="json")
    assert Deal.objects.values_list("probability", "version").get(pk=deal.pk) == (30, 2)


def test_deleting_an_employee_moves_the_version_of_what_it_held(owner_client, organization):
    employee = EmployeeFactory(organization=organization)
    lead = LeadFactory(organization=organization, assigned_to=employee)
    assert owner_client.delete(f"/api/employees/{employee.id}/").status_code == 204
    assert Lead.objects.values_list("assigned_to", "version").get(pk=lead.pk) == (None, 2)


def test_a_record_gone_before_the_lock_is_a_404_not_a_500(organization):
    lead = LeadFactory(organization=organization)
    stale = Lead.objects.get(pk=lead.pk)
    service = LeadService(Tenant.system(organization))
    service.delete(lead)

    for write in (lambda: service.delete(stale), lambda: service.update(stale, company="X")):
        with pytest.raises(RecordGone):
            write()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("resource", ["leads", "pipeline-stages", "customers", "teams", "roles", "organizations"])
def test_of_simultaneous_deletes_exactly_one_is_204(resource, owner, owner_client, organization):
    record = {
        "leads": lambda: LeadFactory(organization=organization),
        "customers": lambda: CustomerFactory(organization=organization),
        "pipeline-stages": lambda: PipelineStageFactory(
            pipeline=PipelineFactory(organization=organization), organization=organization
        ),
        "teams": lambda: Team.objects.create(organization=organization, name="Nordics"),
        "roles": lambda: RoleFactory(organization=organization),
        "organizations": lambda: create_organization(name="Closing", owner=owner),
    }[resource]()

    statuses = run_together(*[lambda: owner_client.delete(f"/api/{resource}/{record.id}/").status_code] * 6)

    assert sorted(statuses) == [204, 404, 404, 404, 404, 404]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_patches_of_different_fields_both_survive(owner, organization):
    from crmApp.tests.conftest import make_client

    customer = CustomerFactory(organization=organization)
    clients = [make_client(owner, organization) for _ in range(2)]
    changes = [{"city": "Bergen"}, {"phone": "+47 555"}]

    statuses = run_together(
        *[
            lambda: (
                clients[threading.get_ident() % 2]
                .patch(f"/api/customers/{customer.id}/", changes.pop(), format="json")
                .status_code
            )
        ]
        * 2
    )

    assert statuses == [200, 200]
    fresh = Customer.objects.get(pk=customer.pk)
    assert (fresh.city, fresh.phone, fresh.version) == ("Bergen", "+47 555", 3)


def test_a_stage_row_that_vanished_is_a_404_for_its_deal_move(owner_client, organization):
    deal = DealFactory(organization=organization)
    spare = PipelineStage.objects.create(
        organization=organization, pipeline=deal.pipeline, name="Spare", order=9, probability=5
    )
    spare_id = spare.id
    spare.delete()
    response = owner_client.post(f"/api/deals/{deal.id}/move-stage/", {"stage": spare_id}, format="json")
    assert response.status_code == 400  # an id that is gone is "does not exist" on `stage`
