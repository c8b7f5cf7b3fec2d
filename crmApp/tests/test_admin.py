"""The Django admin: every page renders, and saves keep the same rules as the API."""

import re
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from crmApp.models import Customer, Deal, HistoryEntry, Lead, Membership, Pipeline, PipelineStage
from crmApp.models.tally import Tally
from crmApp.tests.factories import (
    ActivityFactory,
    CustomerFactory,
    DealFactory,
    EmployeeFactory,
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    UserFactory,
    default_stage,
)

# Every model but the tallies, which are the database's running totals rather than records to browse.
MODELS = [
    model._meta.model_name for model in apps.get_app_config("crmApp").get_models() if not issubclass(model, Tally)
]


def organization_filter(model_name: str) -> str:
    """The changelist query that narrows a model's admin to one organization."""
    model = apps.get_model("crmApp", model_name)
    if any(field.name == "organization" for field in model._meta.concrete_fields):
        return "?organization__id__exact=1"
    return {"user": "?memberships__organization__id__exact=1"}.get(model_name, "")


@pytest.fixture
def records(organization, other_organization):
    for org in (organization, other_organization):
        DealFactory(organization=org)
        LeadFactory(organization=org)


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_every_changelist_renders_with_search_and_organization_filter(admin_client, records, model):
    for query in ("", "?q=a", organization_filter(model)):
        response = admin_client.get(reverse(f"admin:crmApp_{model}_changelist") + query)
        assert response.status_code == 200, query


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model", ["lead", "deal", "customer", "employee", "vendor", "pipeline", "organization", "user"]
)
def test_add_pages_render(admin_client, model):
    assert admin_client.get(reverse(f"admin:crmApp_{model}_add")).status_code == 200


# The management form of the (read-only) activities inline a change page carries.
ACTIVITIES_INLINE = {
    "activities-TOTAL_FORMS": "0",
    "activities-INITIAL_FORMS": "0",
    "activities-MIN_NUM_FORMS": "0",
    "activities-MAX_NUM_FORMS": "1000",
}


def lead_form(organization, **fields) -> dict:
    return {
        **ACTIVITIES_INLINE,
        "organization": organization.id,
        "first_name": "Ada",
        "last_name": "",
        "email": "",
        "phone": "",
        "company": "",
        "job_title": "",
        "source": "other",
        "estimated_value": "",
        "notes": "",
        **fields,
    }


@pytest.mark.django_db
def test_a_lead_added_in_the_admin_is_scored_coded_and_authored(admin_client, admin_user, organization):
    form = lead_form(organization, email="ada@example.com", company="Analytical", source="referral")
    response = admin_client.post(reverse("admin:crmApp_lead_add"), form)
    assert response.status_code == 302, response.content[:2000]
    lead = Lead.objects.get(organization=organization)
    assert (lead.score, lead.code, lead.created_by) == (50, "LEAD-0001", admin_user)


@pytest.mark.django_db
def test_money_changed_in_the_admin_is_recorded_at_two_places_like_the_api(admin_client, organization):
    admin_client.post(reverse("admin:crmApp_lead_add"), lead_form(organization, estimated_value="60000"))
    lead = Lead.objects.get(organization=organization)
    change = reverse("admin:crmApp_lead_change", args=[lead.id])
    admin_client.post(change, lead_form(organization, estimated_value="75000.5"))

    changes = [
        c for e in HistoryEntry.objects.filter(record_type="lead", record_id=lead.id).order_by("id") for c in e.changes
    ]
    money = [(c["old"], c["new"]) for c in changes if c["field"] == "estimated_value"]
    assert money == [(None, "60000.00"), ("60000.00", "75000.50")]


@pytest.mark.django_db
def test_a_lead_linked_to_another_organizations_employee_is_refused(admin_client, organization, other_organization):
    foreign = EmployeeFactory(organization=other_organization)
    response = admin_client.post(reverse("admin:crmApp_lead_add"), lead_form(organization, assigned_to=foreign.id))
    assert response.status_code == 200  # the form comes back with the error
    assert "This belongs to another organization." in response.content.decode()
    assert not Lead.objects.exists()


def deal_form(deal, **fields) -> dict:
    return {
        **ACTIVITIES_INLINE,
        "organization": deal.organization_id,
        "title": deal.title,
        "customer": deal.customer_id,
        "pipeline": deal.pipeline_id,
        "stage": deal.stage_id,
        "value": str(deal.value),
        "expected_close_date": "",
        "assigned_to": "",
        "lead": "",
        "lost_reason": "",
        **fields,
    }


@pytest.mark.django_db
def test_moving_a_deal_to_the_won_stage_in_the_admin_closes_it_like_the_api(admin_client, organization):
    deal = DealFactory(organization=organization, value=Decimal("1000.00"))
    won = default_stage(organization, "Closed Won")
    response = admin_client.post(reverse("admin:crmApp_deal_change", args=[deal.id]), deal_form(deal, stage=won.id))
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.status, deal.probability, deal.expected_revenue) == ("won", 100, Decimal("1000.00"))
    assert deal.closed_at is not None


@pytest.mark.django_db
def test_a_deal_won_in_the_admin_with_a_new_value_records_the_value_at_two_places(admin_client, organization):
    deal = DealFactory(organization=organization, value=Decimal("1000.00"))
    won = default_stage(organization, "Closed Won")
    change = reverse("admin:crmApp_deal_change", args=[deal.id])
    admin_client.post(change, deal_form(deal, stage=won.id, value="70000"))

    event = HistoryEntry.objects.get(record_type="deal", record_id=deal.id, event="won")
    assert event.data == {"value": "70000.00"}


@pytest.mark.django_db
@pytest.mark.parametrize("zero", ["-0", "-0.00"])
def test_a_negative_zero_typed_in_the_admin_is_zero(admin_client, organization, zero):
    deal = DealFactory(organization=organization, value=Decimal("1000.00"))
    admin_client.post(reverse("admin:crmApp_deal_change", args=[deal.id]), deal_form(deal, value=zero))

    entry = HistoryEntry.objects.filter(record_type="deal", record_id=deal.id).latest("id")
    assert {c["field"]: c["new"] for c in entry.changes} == {"value": "0.00", "expected_revenue": "0.00"}


@pytest.mark.django_db
def test_a_deal_with_a_stage_of_another_pipeline_or_a_foreign_customer_is_refused(
    admin_client, organization, other_organization
):
    deal = DealFactory(organization=organization)
    foreign_customer = CustomerFactory(organization=other_organization)
    foreign_stage = default_stage(other_organization, "Proposal")
    url = reverse("admin:crmApp_deal_change", args=[deal.id])
    for bad in ({"customer": foreign_customer.id}, {"stage": foreign_stage.id}):
        response = admin_client.post(url, deal_form(deal, **bad))
        assert response.status_code == 200
    assert Deal.objects.get(pk=deal.pk).customer_id == deal.customer_id
    assert Deal.objects.get(pk=deal.pk).stage_id == deal.stage_id


@pytest.mark.django_db
def test_a_stage_probability_changed_in_the_admin_re_prices_its_deals(admin_client, organization):
    deal = DealFactory(organization=organization, value=Decimal("1000.00"))
    stage = deal.stage
    form = {"name": stage.name, "order": stage.order, "probability": 40, "pipeline": stage.pipeline_id}

    response = admin_client.post(reverse("admin:crmApp_pipelinestage_change", args=[stage.id]), form)

    assert response.status_code == 302, response.content[:2000]
    deal.refresh_from_db()
    assert (deal.probability, deal.expected_revenue, deal.version) == (40, Decimal("400.00"), 2)


@pytest.mark.django_db
def test_making_a_pipeline_default_in_the_admin_unsets_the_old_default(admin_client, organization):
    old = Pipeline.objects.get(organization=organization, is_default=True)
    new = Pipeline.objects.create(organization=organization, name="Renewals")
    form = {
        "name": "Renewals",
        "is_default": "on",
        "stages-TOTAL_FORMS": "0",
        "stages-INITIAL_FORMS": "0",
        "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "1000",
    }

    response = admin_client.post(reverse("admin:crmApp_pipeline_change", args=[new.id]), form)

    assert response.status_code == 302, response.content[:2000]
    assert list(Pipeline.objects.filter(organization=organization, is_default=True)) == [new]
    old.refresh_from_db()
    assert (old.is_default, old.version) == (False, 2)


@pytest.mark.django_db
def test_a_service_rule_broken_in_the_admin_is_a_form_error_not_a_500(admin_client, organization):
    form = {
        "organization": organization.id,
        "customer_type": "business",
        "first_name": "",
        "last_name": "",
        "company_name": "",
        "status": "active",
    }

    response = admin_client.post(reverse("admin:crmApp_customer_add"), form)

    assert response.status_code == 200
    assert "This field is required for a business customer." in response.content.decode()


def autocomplete(admin_client, model: str, field: str, **params):
    query = {"app_label": "crmApp", "model_name": model, "field_name": field, "term": "", **params}
    return admin_client.get(reverse("admin:autocomplete"), query)


@pytest.mark.django_db
def test_autocomplete_offers_only_the_chosen_organizations_records_and_names_it(
    admin_client, organization, other_organization
):
    mine = EmployeeFactory(organization=organization, first_name="Mia")
    theirs = EmployeeFactory(organization=other_organization, first_name="Theo")

    scoped = autocomplete(admin_client, "lead", "assigned_to", organization=organization.id).json()["results"]
    everyone = autocomplete(admin_client, "lead", "assigned_to").json()["results"]

    assert [option["id"] for option in scoped] == [str(mine.id)]
    assert scoped[0]["text"].endswith(f"· {organization.name}")
    assert {option["id"] for option in everyone} == {str(mine.id), str(theirs.id)}


@pytest.mark.django_db
@pytest.mark.parametrize("chosen", ["abc", "²", "１", "", "9" * 23])  # the last: past any id (it was a 500)
def test_autocomplete_with_an_organization_that_is_no_id_offers_every_organizations(
    admin_client, organization, other_organization, chosen
):
    mine = EmployeeFactory(organization=organization)
    theirs = EmployeeFactory(organization=other_organization)

    response = autocomplete(admin_client, "lead", "assigned_to", organization=chosen)

    assert response.status_code == 200
    assert {option["id"] for option in response.json()["results"]} == {str(mine.id), str(theirs.id)}


@pytest.mark.django_db
def test_autocomplete_on_a_change_page_keeps_to_the_records_organization(
    admin_client, organization, other_organization
):
    lead = LeadFactory(organization=organization)
    mine = EmployeeFactory(organization=organization)
    EmployeeFactory(organization=other_organization)
    change_page = f"http://testserver{reverse('admin:crmApp_lead_change', args=[lead.id])}"

    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "crmApp", "model_name": "lead", "field_name": "assigned_to", "term": ""},
        HTTP_REFERER=change_page,
    )

    assert [option["id"] for option in response.json()["results"]] == [str(mine.id)]


@pytest.mark.django_db
def test_per_organization_filters_name_the_organization(admin_client, organization, other_organization):
    page = admin_client.get(reverse("admin:crmApp_deal_changelist")).content.decode()
    assert f"Sales Pipeline › Prospecting · {organization.name}" in page
    assert f"Sales Pipeline › Prospecting · {other_organization.name}" in page


@pytest.mark.django_db
def test_a_delete_the_service_refuses_is_an_error_message(admin_client, organization):
    pipeline = Pipeline.objects.get(organization=organization, is_default=True)

    response = admin_client.post(reverse("admin:crmApp_pipeline_delete", args=[pipeline.id]), {"post": "yes"})

    assert response.status_code == 302
    assert response.url == reverse("admin:crmApp_pipeline_change", args=[pipeline.id])
    assert [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)] == [
        ("error", "The default pipeline cannot be deleted; make another pipeline the default first.")
    ]
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()


def pipeline_form(pipeline, *stages, **fields) -> dict:
    """The pipeline's change form with `stages` (dicts of the inline's fields, `id` for existing ones)."""
    form = {
        "name": pipeline.name,
        "stages-TOTAL_FORMS": str(len(stages)),
        "stages-INITIAL_FORMS": str(sum("id" in stage for stage in stages)),
        "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, stage in enumerate(stages):
        form.update({f"stages-{index}-{name}": value for name, value in stage.items()})
    return form


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"probability": "100"},  # is_won unticked
        {"probability": "0", "is_lost": "on"},
    ],
)
def test_a_stage_rule_broken_in_the_pipeline_inline_is_a_form_error(admin_client, organization, change):
    pipeline = PipelineFactory(organization=organization)
    stage = PipelineStageFactory(pipeline=pipeline, is_won=True, probability=100, name="Won", order=1)
    deal = DealFactory(organization=organization, stage=stage)
    row = {"id": stage.id, "pipeline": pipeline.id, "name": "Won", "order": "1", **change}

    response = admin_client.post(
        reverse("admin:crmApp_pipeline_change", args=[pipeline.id]), pipeline_form(pipeline, row)
    )

    assert response.status_code == 200  # the form again, with the rule as its error
    assert (Deal.objects.get(pk=deal.pk).status, PipelineStage.objects.get(pk=stage.pk).is_won) == ("won", True)


@pytest.mark.django_db
@pytest.mark.parametrize("is_default", [{"is_default": "on"}, {}])
def test_a_pipeline_added_in_the_admin_takes_the_default_when_asked(admin_client, organization, is_default):
    old = Pipeline.objects.get(organization=organization, is_default=True)
    form = pipeline_form(Pipeline(name="Renewals"), organization=organization.id, **is_default)

    response = admin_client.post(reverse("admin:crmApp_pipeline_add"), form)

    assert response.status_code == 302, response.content[:2000]
    default = Pipeline.objects.get(organization=organization, is_default=True)
    assert default.name == ("Renewals" if is_default else old.name)


RECORDS_WITH_A_USER = {
    "employee": {"first_name": "Ada", "last_name": "Lovelace", "status": "active"},
    "vendor": {"name": "Analytical Supplies", "status": "active"},
    "customer": {"customer_type": "individual", "first_name": "Ada", "last_name": "Lovelace", "status": "active"},
}


@pytest.mark.django_db
@pytest.mark.parametrize("model", RECORDS_WITH_A_USER)
@pytest.mark.parametrize("membership", ["none", "other_organization", "removed"])
def test_a_record_linked_to_a_user_who_is_not_a_member_is_refused(
    admin_client, organization, other_organization, make_member, model, membership
):
    user = UserFactory() if membership == "none" else make_member()
    if membership == "other_organization":
        Membership.objects.filter(user=user).update(organization=other_organization)
    elif membership == "removed":
        Membership.objects.filter(user=user).update(status="removed")
    form = {**ACTIVITIES_INLINE, "organization": organization.id, "user": user.id, **RECORDS_WITH_A_USER[model]}

    response = admin_client.post(reverse(f"admin:crmApp_{model}_add"), form)

    assert response.status_code == 200
    assert f"User {user.id} is not an active member of this organization." in response.content.decode()
    assert not apps.get_model("crmApp", model).objects.filter(organization=organization).exists()


def activity_form(activity, **fields) -> dict:
    return {
        "organization": activity.organization_id,
        "type": activity.type,
        "subject": activity.subject,
        "body": "",
        "due_at_0": "",
        "due_at_1": "",
        "assigned_to": "",
        "customer": activity.customer_id or "",
        "lead": activity.lead_id or "",
        "deal": activity.deal_id or "",
        **fields,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("trashed", ["customer", "lead"])
def test_a_link_to_a_record_in_the_trash_survives_an_admin_edit_of_another_field(admin_client, organization, trashed):
    customer, lead = CustomerFactory(organization=organization), LeadFactory(organization=organization)
    activity = ActivityFactory(organization=organization, customer=customer, lead=lead)
    model = {"customer": Customer, "lead": Lead}[trashed]
    model.objects.filter(pk=getattr(activity, f"{trashed}_id")).update(deleted_at=timezone.now())
    change = reverse("admin:crmApp_activity_change", args=[activity.id])

    select = re.search(rf'<select name="{trashed}".*?</select>', admin_client.get(change).content.decode(), re.S)
    assert f'<option value="{getattr(activity, f"{trashed}_id")}" selected>' in select.group()  # shown as it is
    response = admin_client.post(change, activity_form(activity, subject="Renamed"))

    assert response.status_code == 302
    activity.refresh_from_db()
    assert (activity.customer_id, activity.lead_id) == (customer.id, lead.id)
    entry = HistoryEntry.objects.filter(record_type="activity", record_id=activity.id).latest("id")
    assert [change["field"] for change in entry.changes] == ["subject"]


# Every autocomplete field of every add page: the widget shows the value it was sent back with the errors.
AUTOCOMPLETE_FIELDS = [
    (model._meta.model_name, field)
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label == "crmApp"
    for field in model_admin.autocomplete_fields
]


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "field"), AUTOCOMPLETE_FIELDS)
@pytest.mark.parametrize("value", ["abc", "1e999", "-0.5"])
def test_a_link_that_is_not_an_id_is_a_form_error_not_a_500(admin_client, organization, model, field, value):
    response = admin_client.post(reverse(f"admin:crmApp_{model}_add"), {"organization": organization.id, field: value})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("selected", ["abc", "9" * 25])
@pytest.mark.parametrize(("page", "action"), [("crmApp_deal", "delete_selected"), ("auth_group", "delete_selected")])
def test_an_action_on_rows_that_are_no_ids_selects_nothing(admin_client, organization, page, action, selected):
    """A crafted selection was a 500 (Django filters the rows by it as sent); now it is as if none was ticked."""
    deal = DealFactory(organization=organization)

    response = admin_client.post(
        reverse(f"admin:{page}_changelist"), {"action": action, "_selected_action": [selected], "index": "0"}
    )

    assert response.status_code == 302
    assert [m.message for m in get_messages(response.wsgi_request)] == [
        "Items must be selected in order to perform actions on them. No items have been changed."
    ]
    assert Deal.objects.filter(pk=deal.pk).exists()
