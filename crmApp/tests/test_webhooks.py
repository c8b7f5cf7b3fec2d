"""`/api/webhooks/`: who may manage them, which URLs they may target, and which events every write path queues."""

import socket
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from crmApp.constants import DeliveryStatus
from crmApp.models import HistoryEntry, OutboxEvent, Webhook, WebhookDelivery
from crmApp.services.customer_service import CustomerService
from crmApp.services.lead_service import LeadService
from crmApp.tenancy import Tenant
from crmApp.tests.conftest import error_fields
from crmApp.tests.factories import (
    ActivityFactory,
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
)
from crmApp.tests.test_admin import ACTIVITIES_INLINE

pytestmark = pytest.mark.django_db
PUBLIC_ADDRESS = "93.184.215.14"


def resolving_to(*addresses):
    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    return getaddrinfo


@pytest.fixture
def public_dns(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to(PUBLIC_ADDRESS))


def make_webhook(organization, events=("*",), **fields) -> Webhook:
    fields = {"url": "https://hooks.example.com/crm", "secret": "whsec_test", **fields}
    return Webhook.objects.create(organization=organization, events=list(events), **fields)


def fired(after: int = 0) -> list[str]:
    return list(OutboxEvent.objects.filter(id__gt=after).order_by("id").values_list("type", flat=True))


# --- managing webhooks ----------------------------------------------------------------------------------
def test_create_shows_the_secret_once_and_never_again(owner_client, public_dns):
    body = {"url": "https://hooks.example.com/crm", "events": ["lead.created", "deal.won"], "description": "Billing"}
    created = owner_client.post("/api/webhooks/", body, format="json")
    assert created.status_code == 201, created.json()
    webhook = created.json()
    assert webhook["secret"].startswith("whsec_") and len(webhook["secret"]) > 40
    assert (webhook["events"], webhook["is_active"], webhook["failure_count"]) == (
        ["lead.created", "deal.won"],
        True,
        0,
    )

    shown = owner_client.get(f"/api/webhooks/{webhook['id']}/").json()
    listed = owner_client.get("/api/webhooks/").json()["results"][0]
    assert "secret" not in shown and "secret" not in listed


@pytest.mark.parametrize("method", ["put", "patch"])
def test_the_create_answer_may_be_sent_back_with_its_secret_which_is_ignored(owner_client, public_dns, method):
    created = owner_client.post("/api/webhooks/", {"url": "https://hooks.example.com/crm"}, format="json").json()

    response = getattr(owner_client, method)(
        f"/api/webhooks/{created['id']}/", {**created, "description": "Billing", "secret": "whsec_mine"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["description"] == "Billing" and "secret" not in response.json()
    assert Webhook.objects.get(pk=created["id"]).secret == created["secret"]


def test_rotating_answers_the_new_version_s_etag_for_the_next_if_match(owner_client, organization):
    webhook = make_webhook(organization)
    path = f"/api/webhooks/{webhook.id}/"

    rotated = owner_client.post(f"{path}rotate-secret/")

    assert rotated["ETag"] == owner_client.get(path)["ETag"] == '"2"'
    assert (
        owner_client.patch(path, {"description": "x"}, format="json", HTTP_IF_MATCH=rotated["ETag"]).status_code == 200
    )


def test_events_default_to_every_event(owner_client, public_dns):
    webhook = owner_client.post("/api/webhooks/", {"url": "https://hooks.example.com/"}, format="json").json()
    assert webhook["events"] == ["*"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example.com/"}, "url"),
        ({"url": "http://hooks.example.com/"}, "url"),
        ({"url": "https://user:pass@hooks.example.com/"}, "url"),
        ({"url": 12}, "url"),
        ({"url": "https://hooks.example.com/", "events": []}, "events"),
        ({"url": "https://hooks.example.com/", "events": ["lead.exploded"]}, "events"),
        ({"url": "https://hooks.example.com/", "events": ["*", "lead.created"]}, "events"),
        ({"url": "https://hooks.example.com/", "events": "lead.created"}, "events"),
        ({"url": "https://" + "a" * 2000 + ".com/"}, "url"),
    ],
)
def test_bad_webhooks_are_a_400_on_the_field(owner_client, public_dns, body, field):
    response = owner_client.post("/api/webhooks/", body, format="json")
    assert response.status_code == 400 and field in error_fields(response), response.json()
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "address",
    [
        *("127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.100.100.200", "0.0.0.0"),
        *("::1", "fd00:ec2::254", "fe80::1", "::ffff:127.0.0.1", "224.0.0.1"),
        # IPv6 forms of a metadata or loopback address: NAT64, 6to4, IPv4-compatible, SIIT.
        *("64:ff9b::a9fe:a9fe", "64:ff9b:1::7f00:1", "2002:a9fe:a9fe::", "::a9fe:a9fe", "::ffff:0:7f00:1"),
    ],
)
def test_hosts_resolving_to_internal_addresses_are_refused(owner_client, monkeypatch, address):
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to(PUBLIC_ADDRESS, address))
    response = owner_client.post("/api/webhooks/", {"url": "https://hooks.example.com/"}, format="json")
    assert response.status_code == 400 and "private" in response.json()["errors"]["url"][0]


def test_an_unresolvable_host_is_refused(owner_client, monkeypatch):
    def fails(*args, **kwargs):
        raise socket.gaierror("Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fails)
    response = owner_client.post("/api/webhooks/", {"url": "https://nowhere.invalid/"}, format="json")
    assert response.status_code == 400 and "resolved" in response.json()["errors"]["url"][0]


def test_private_targets_and_http_are_allowed_when_turned_on(owner_client, settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE, settings.WEBHOOK_ALLOW_HTTP = True, True
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to("127.0.0.1"))
    response = owner_client.post("/api/webhooks/", {"url": "http://localhost:9000/hooks"}, format="json")
    assert response.status_code == 201


def test_changing_the_url_checks_it_again(owner_client, organization, monkeypatch):
    webhook = make_webhook(organization)
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to("10.0.0.5"))
    response = owner_client.patch(
        f"/api/webhooks/{webhook.id}/", {"url": "https://intranet.example.com/"}, format="json"
    )
    assert response.status_code == 400
    webhook.refresh_from_db()
    assert webhook.url == "https://hooks.example.com/crm"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/webhooks/"),
        ("post", "/api/webhooks/"),
        ("get", "/api/webhooks/{id}/"),
        ("patch", "/api/webhooks/{id}/"),
        ("delete", "/api/webhooks/{id}/"),
        ("post", "/api/webhooks/{id}/rotate-secret/"),
        ("post", "/api/webhooks/{id}/ping/"),
        ("get", "/api/webhooks/{id}/deliveries/"),
    ],
)
def test_every_webhook_route_needs_webhooks_manage(member_client, organization, method, path, public_dns):
    webhook = make_webhook(organization)
    takes_a_body = path in ("/api/webhooks/", "/api/webhooks/{id}/") and method in ("post", "patch")
    body = {"data": {"url": "https://a.example.com/"}, "format": "json"} if takes_a_body else {}
    everything_else = member_client(["leads:view", "leads:create", "customers:view", "audit:view"])
    assert getattr(everything_else, method)(path.format(id=webhook.id), **body).status_code == 403
    allowed = member_client(["webhooks:manage", *(f"{r}:view" for r in ("customers", "leads", "deals", "activities"))])
    assert getattr(allowed, method)(path.format(id=webhook.id), **body).status_code < 400


def test_another_organizations_webhook_is_a_404(owner_client, other_organization):
    webhook = make_webhook(other_organization)
    for path in ("", "deliveries/"):
        assert owner_client.get(f"/api/webhooks/{webhook.id}/{path}").status_code == 404
    assert owner_client.post(f"/api/webhooks/{webhook.id}/ping/").status_code == 404
    assert owner_client.delete(f"/api/webhooks/{webhook.id}/").status_code == 404
    assert Webhook.objects.filter(pk=webhook.pk).exists()


def test_rotating_keeps_the_old_secret_for_24_hours(owner_client, organization):
    webhook = make_webhook(organization)
    response = owner_client.post(f"/api/webhooks/{webhook.id}/rotate-secret/")
    assert response.status_code == 200
    webhook.refresh_from_db()
    assert webhook.secret == response.json()["secret"] != "whsec_test"
    assert webhook.previous_secret == "whsec_test"
    overlap = webhook.previous_secret_expires_at - timezone.now()
    assert timedelta(hours=23, minutes=59) < overlap <= timedelta(hours=24)


def test_each_change_of_a_webhook_moves_its_version_and_a_change_of_nothing_does_not(owner_client, organization):
    webhook = make_webhook(organization, description="Billing")
    path = f"/api/webhooks/{webhook.id}/"
    assert owner_client.get(path).json()["version"] == 1
    assert owner_client.patch(path, {"description": "Billing"}, format="json").json()["version"] == 1
    assert owner_client.patch(path, {"description": "Invoices"}, format="json").json()["version"] == 2
    assert owner_client.post(f"{path}rotate-secret/").status_code == 200
    assert owner_client.get(path).json()["version"] == 3
    assert not HistoryEntry.objects.filter(record_type="webhook").exists()  # a webhook is no CRM record


def test_ping_queues_a_ping_for_that_webhook_alone(owner_client, organization):
    webhook, other = make_webhook(organization), make_webhook(organization)
    response = owner_client.post(f"/api/webhooks/{webhook.id}/ping/")
    assert response.status_code == 202
    assert (response.json()["event_type"], response.json()["status"]) == ("ping", "pending")
    assert list(WebhookDelivery.objects.values_list("webhook_id", flat=True)) == [webhook.id]
    assert not WebhookDelivery.objects.filter(webhook=other).exists()


def test_ping_and_redeliver_on_a_disabled_webhook_are_a_409(owner_client, organization):
    webhook = make_webhook(organization, is_active=False)
    response = owner_client.post(f"/api/webhooks/{webhook.id}/ping/")
    assert (response.status_code, response.json()["code"]) == (409, "webhook_disabled")


def test_disabling_by_hand_says_so_and_enabling_clears_the_failures(owner_client, organization):
    webhook = make_webhook(organization, failure_count=9, failing_since=timezone.now())
    disabled = owner_client.patch(f"/api/webhooks/{webhook.id}/", {"is_active": False}, format="json").json()
    assert disabled["disabled_reason"] == "Disabled by a member."
    enabled = owner_client.patch(f"/api/webhooks/{webhook.id}/", {"is_active": True}, format="json").json()
    assert (enabled["is_active"], enabled["disabled_reason"], enabled["failure_count"]) == (True, "", 0)


def test_deleting_a_webhook_takes_its_delivery_log(owner_client, organization):
    webhook = make_webhook(organization)
    LeadService(Tenant.system(organization)).create(first_name="Ada")
    assert WebhookDelivery.objects.count() == 1
    assert owner_client.delete(f"/api/webhooks/{webhook.id}/").status_code == 204
    assert not WebhookDelivery.objects.exists() and not Webhook.objects.exists()


# --- which events every write path queues -----------------------------------------------------------
def lead_convert(client, organization):
    lead = LeadFactory(organization=organization, status="qualified")
    return client.post(f"/api/leads/{lead.id}/convert/", {"create_deal": True, "deal_value": "10.00"}, format="json")


def deal_move(client, organization):
    deal = DealFactory(organization=organization)
    stage = deal.pipeline.stages.get(name="Proposal")
    return client.post(f"/api/deals/{deal.id}/move-stage/", {"stage": stage.id}, format="json")


WRITE_PATHS = {
    "customer create": (
        lambda c, o: c.post(
            "/api/customers/", {"customer_type": "individual", "first_name": "Ada", "last_name": "L"}, format="json"
        ),
        ["customer.created"],
    ),
    "customer update": (
        lambda c, o: c.patch(f"/api/customers/{CustomerFactory(organization=o).id}/", {"city": "Oslo"}, format="json"),
        ["customer.updated"],
    ),
    "customer delete": (
        lambda c, o: c.delete(f"/api/customers/{CustomerFactory(organization=o).id}/"),
        ["customer.deleted"],
    ),
    "customer bulk update": (
        lambda c, o: c.post(
            "/api/customers/bulk-update/",
            {
                "ids": [CustomerFactory(organization=o).id, CustomerFactory(organization=o).id],
                "data": {"status": "inactive"},
            },
            format="json",
        ),
        ["customer.updated", "customer.updated"],
    ),
    "customer bulk delete": (
        lambda c, o: c.post(
            "/api/customers/bulk-delete/",
            {"ids": [CustomerFactory(organization=o).id, CustomerFactory(organization=o).id]},
            format="json",
        ),
        ["customer.deleted", "customer.deleted"],
    ),
    "lead create": (lambda c, o: c.post("/api/leads/", {"first_name": "Ada"}, format="json"), ["lead.created"]),
    "lead assign": (
        lambda c, o: c.post(
            f"/api/leads/{LeadFactory(organization=o).id}/assign/",
            {"employee": EmployeeFactory(organization=o).id},
            format="json",
        ),
        ["lead.updated"],
    ),
    "lead convert": (lead_convert, ["customer.created", "deal.created", "lead.updated", "lead.converted"]),
    "deal create": (
        lambda c, o: c.post(
            "/api/deals/",
            {"title": "Big", "customer": CustomerFactory(organization=o).id, "value": "5.00"},
            format="json",
        ),
        ["deal.created"],
    ),
    "deal stage move": (deal_move, ["deal.updated", "deal.stage_changed"]),
    "deal win": (
        lambda c, o: c.post(f"/api/deals/{DealFactory(organization=o).id}/win/"),
        ["deal.updated", "deal.stage_changed", "deal.won"],
    ),
    "deal lose": (
        lambda c, o: c.post(
            f"/api/deals/{DealFactory(organization=o).id}/lose/", {"lost_reason": "price"}, format="json"
        ),
        ["deal.updated", "deal.stage_changed", "deal.lost"],
    ),
    "activity create": (
        lambda c, o: c.post(
            "/api/activities/", {"subject": "Call", "lead": LeadFactory(organization=o).id}, format="json"
        ),
        ["activity.created"],
    ),
    "activity complete": (
        lambda c, o: c.post(f"/api/activities/{ActivityFactory(organization=o).id}/complete/"),
        ["activity.updated", "activity.completed"],
    ),
    "activity delete": (
        lambda c, o: c.delete(f"/api/activities/{ActivityFactory(organization=o).id}/"),
        ["activity.deleted"],
    ),
}


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_every_write_path_queues_its_events(owner_client, organization, path):
    make_webhook(organization)
    write, expected = WRITE_PATHS[path]
    response = write(owner_client, organization)
    assert response.status_code < 300, response.content
    assert sorted(fired()) == sorted(expected)
    assert WebhookDelivery.objects.count() == len(expected)


def test_an_admin_save_queues_its_event(admin_client, organization):
    make_webhook(organization)
    customer = CustomerFactory(organization=organization)
    form = {
        **ACTIVITIES_INLINE,
        "customer_type": "individual",
        "first_name": "Ada",
        "last_name": "L",
        "status": "active",
    }
    form["city"] = "Oslo"
    response = admin_client.post(reverse("admin:crmApp_customer_change", args=[customer.id]), form)
    assert response.status_code == 302
    assert fired() == ["customer.updated"]


def test_the_event_carries_the_record_as_the_api_shows_it_and_the_changes(owner_client, organization):
    make_webhook(organization)
    lead = owner_client.post("/api/leads/", {"first_name": "Ada", "company": "Engines"}, format="json").json()
    owner_client.patch(f"/api/leads/{lead['id']}/", {"company": "Analytical"}, format="json")
    shown = owner_client.get(f"/api/leads/{lead['id']}/").json()

    created, updated = OutboxEvent.objects.order_by("id")
    assert created.data == lead and updated.data == shown
    assert updated.changes == [{"field": "company", "old": "Engines", "new": "Analytical"}]
    assert (updated.record_key, updated.organization_id) == (f"lead:{lead['id']}", organization.id)


@pytest.mark.parametrize(
    ("factory", "path", "change"),
    [
        (CustomerFactory, "customers", {"city": "Oslo"}),
        (LeadFactory, "leads", {"company": "Analytical"}),
        (DealFactory, "deals", {"title": "Bigger"}),
        (ActivityFactory, "activities", {"subject": "Call back"}),
    ],
)
def test_every_kind_of_event_carries_its_record_exactly_as_the_api_shows_it(
    owner_client, organization, factory, path, change
):
    record = factory(organization=organization)
    make_webhook(organization)
    url = f"/api/{path}/{record.id}/"
    assert owner_client.patch(url, change, format="json").status_code == 200
    shown = owner_client.get(url).json()
    assert owner_client.delete(url).status_code == 204

    updated, deleted = OutboxEvent.objects.order_by("id")
    assert updated.data == shown and deleted.data["id"] == record.id


def test_only_subscribed_events_are_queued_and_only_to_their_subscribers(owner_client, organization):
    leads_only = make_webhook(organization, events=["lead.created"])
    everything = make_webhook(organization)
    make_webhook(organization, is_active=False)
    owner_client.post("/api/leads/", {"first_name": "Ada"}, format="json")
    owner_client.post(
        "/api/customers/", {"customer_type": "individual", "first_name": "Bo", "last_name": "Ek"}, format="json"
    )

    assert fired() == ["lead.created", "customer.created"]
    assert sorted(WebhookDelivery.objects.values_list("webhook_id", "event__type")) == sorted(
        [(leads_only.id, "lead.created"), (everything.id, "lead.created"), (everything.id, "customer.created")]
    )


def test_without_active_webhooks_nothing_is_queued(owner_client, organization, other_organization):
    make_webhook(other_organization)
    make_webhook(organization, is_active=False)
    owner_client.post("/api/leads/", {"first_name": "Ada"}, format="json")
    assert not OutboxEvent.objects.exists()


def test_a_write_that_changes_nothing_queues_nothing(owner_client, organization):
    lead = LeadFactory(organization=organization, company="Initech")
    make_webhook(organization)
    owner_client.patch(f"/api/leads/{lead.id}/", {"company": "Initech"}, format="json")
    assert fired() == []


def test_a_rolled_back_write_queues_nothing(organization):
    make_webhook(organization)
    with pytest.raises(RuntimeError), transaction.atomic():
        LeadService(Tenant.system(organization)).create(first_name="Ada")
        assert fired() == ["lead.created"]
        raise RuntimeError("the request failed after the write")
    assert fired() == [] and not WebhookDelivery.objects.exists()


def test_a_refused_request_queues_nothing(owner_client, organization):
    make_webhook(organization)
    deal = DealFactory(organization=organization)
    response = owner_client.delete(f"/api/customers/{deal.customer_id}/")
    assert response.status_code == 409
    assert fired() == []


def test_sequences_grow_in_commit_order_within_an_organization(owner_client, organization):
    make_webhook(organization)
    for name in ("A", "B", "C"):
        owner_client.post("/api/leads/", {"first_name": name}, format="json")
    ids = list(OutboxEvent.objects.order_by("created_at", "id").values_list("id", flat=True))
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_queued_attempts_start_pending_and_due_now(organization):
    make_webhook(organization)
    LeadService(Tenant.system(organization)).create(first_name="Ada")
    attempt = WebhookDelivery.objects.get()
    assert (attempt.status, attempt.attempt) == (DeliveryStatus.PENDING, 1)
    assert attempt.next_attempt_at <= timezone.now()


def test_queuing_events_costs_constant_statements_for_a_bulk_write(organization, django_assert_max_num_queries):
    make_webhook(organization)
    make_webhook(organization, events=["customer.updated"])
    ids = [CustomerFactory(organization=organization).id for _ in range(40)]
    with django_assert_max_num_queries(11):  # the payloads are read in one statement, however many records
        CustomerService(Tenant.system(organization)).bulk_update(ids=ids, status="inactive")
    assert OutboxEvent.objects.count() == 40 and WebhookDelivery.objects.count() == 80
