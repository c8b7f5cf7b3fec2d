"""Revenue report: buckets per period and their UTC boundaries, date ranges, defaults and bad parameters."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from crmApp.services.analytics_service import MAX_DAY_RANGE_DAYS, AnalyticsService
from crmApp.tenancy import Tenant
from crmApp.tests.analytics_data import (
    at,
    customer,
    deal,
    freeze,
    lost,
    url,
    won,
)

pytestmark = pytest.mark.django_db


def revenue(client, **params):
    response = client.get(url("revenue"), params)
    assert response.status_code == 200, response.json()
    return response.json()


def closings(org, *moments_and_values):
    """Won deals closed at each (moment, value), all for one customer."""
    buyer = customer(org)
    for moment, value in moments_and_values:
        won(org, value, moment, customer=buyer)


def test_default_is_months_from_the_first_day_eleven_months_back_through_today(
    frozen, noise, organization, owner_client
):
    closings(
        organization,
        (at(2023, 3, 31, 23, 59, 59), "1.00"),  # the day before the range
        (at(2023, 4, 1), "10.00"),
        (at(2023, 4, 30, 23, 59, 59), "20.00"),
        (at(2023, 5, 1), "30.00"),
        (at(2023, 12, 31, 23, 59, 59), "40.00"),
        (at(2024, 1, 1), "50.00"),
        (at(2024, 3, 15, 11), "60.00"),
        (at(2024, 3, 16), "2.00"),  # after today
    )
    lost(organization, "999.00", at(2023, 6, 1))
    deal(organization, "Proposal", "999.00")

    assert revenue(owner_client) == {
        "period": "month",
        "results": [
            {"period": "2023-04-01", "revenue": "30.00", "deals": 2},
            {"period": "2023-05-01", "revenue": "30.00", "deals": 1},
            {"period": "2023-12-01", "revenue": "40.00", "deals": 1},
            {"period": "2024-01-01", "revenue": "50.00", "deals": 1},
            {"period": "2024-03-01", "revenue": "60.00", "deals": 1},
        ],
    }


def test_week_buckets_start_on_monday(frozen, noise, organization, owner_client):
    closings(
        organization,
        (at(2023, 12, 31, 23, 59, 59), "1.00"),  # Sunday: the week of Monday 2023-12-25
        (at(2024, 1, 1), "2.00"),  # Monday: a new week, and a new year
        (at(2024, 1, 7, 23, 59, 59), "4.00"),  # Sunday, same week
        (at(2024, 3, 10, 23, 59, 59, 999999), "8.00"),  # Sunday, the last instant
        (at(2024, 3, 11), "16.00"),  # the next Monday at midnight
        (at(2024, 3, 13, 9), "32.00"),  # Wednesday of that week
    )

    body = revenue(owner_client, period="week", start="2023-12-01", end="2024-03-15")

    assert body == {
        "period": "week",
        "results": [
            {"period": "2023-12-25", "revenue": "1.00", "deals": 1},
            {"period": "2024-01-01", "revenue": "6.00", "deals": 2},
            {"period": "2024-03-04", "revenue": "8.00", "deals": 1},
            {"period": "2024-03-11", "revenue": "48.00", "deals": 2},
        ],
    }
    assert all(date.fromisoformat(row["period"]).weekday() == 0 for row in body["results"])


def test_week_bucket_is_labelled_by_its_monday_even_before_start(frozen, noise, organization, owner_client):
    closings(organization, (at(2024, 3, 5, 23), "5.00"), (at(2024, 3, 7, 10), "7.00"))  # Tuesday, Thursday

    body = revenue(owner_client, period="week", start="2024-03-06", end="2024-03-15")

    assert body["results"] == [{"period": "2024-03-04", "revenue": "7.00", "deals": 1}]


def test_day_buckets_split_at_utc_midnight(frozen, noise, organization, owner_client):
    closings(
        organization,
        (at(2024, 3, 9, 0), "1.00"),
        (at(2024, 3, 9, 23, 59), "2.00"),
        (at(2024, 3, 10, 0), "4.00"),
        (at(2024, 3, 12, 12), "8.00"),
    )

    body = revenue(owner_client, period="day", start="2024-03-01", end="2024-03-15")

    assert body["results"] == [
        {"period": "2024-03-09", "revenue": "3.00", "deals": 2},
        {"period": "2024-03-10", "revenue": "4.00", "deals": 1},
        {"period": "2024-03-12", "revenue": "8.00", "deals": 1},
    ]


def test_month_buckets_split_at_month_end(frozen, noise, organization, owner_client):
    closings(
        organization,
        (at(2024, 1, 31, 23, 59, 59), "1.00"),
        (at(2024, 2, 1), "2.00"),
        (at(2024, 2, 29, 23, 59), "4.00"),  # leap day
        (at(2024, 3, 1), "8.00"),
    )

    body = revenue(owner_client, period="month", start="2024-01-01", end="2024-03-15")

    assert body["results"] == [
        {"period": "2024-01-01", "revenue": "1.00", "deals": 1},
        {"period": "2024-02-01", "revenue": "6.00", "deals": 2},
        {"period": "2024-03-01", "revenue": "8.00", "deals": 1},
    ]


def test_year_buckets_split_at_new_year(frozen, noise, organization, owner_client):
    closings(
        organization,
        (at(2021, 6, 1), "1.00"),
        (at(2022, 12, 31, 23, 59, 59), "2.00"),
        (at(2023, 1, 1), "4.00"),
        (at(2023, 7, 7), "8.25"),
    )

    body = revenue(owner_client, period="year", start="2022-01-01", end="2024-03-15")

    assert body["results"] == [
        {"period": "2022-01-01", "revenue": "2.00", "deals": 1},
        {"period": "2023-01-01", "revenue": "12.25", "deals": 2},
    ]


def test_start_and_end_are_inclusive_whole_days(frozen, noise, organization, owner_client):
    closings(
        organization,
        (at(2024, 2, 29, 23, 59, 59), "1.00"),
        (at(2024, 3, 1), "2.00"),
        (at(2024, 3, 10, 23, 59, 59), "4.00"),
        (at(2024, 3, 11), "8.00"),
    )

    body = revenue(owner_client, period="month", start="2024-03-01", end="2024-03-10")

    assert body["results"] == [{"period": "2024-03-01", "revenue": "6.00", "deals": 2}]


def test_a_single_day_range(frozen, noise, organization, owner_client):
    closings(organization, (at(2024, 3, 10, 23, 59), "4.00"), (at(2024, 3, 11), "8.00"))

    assert revenue(owner_client, period="day", start="2024-03-10", end="2024-03-10")["results"] == [
        {"period": "2024-03-10", "revenue": "4.00", "deals": 1}
    ]


def test_start_alone_runs_through_today(frozen, noise, organization, owner_client):
    closings(organization, (at(2020, 5, 5), "1.00"), (at(2024, 3, 15, 1), "2.00"), (at(2024, 3, 16), "4.00"))

    body = revenue(owner_client, period="year", start="2020-01-01")

    assert body["results"] == [
        {"period": "2020-01-01", "revenue": "1.00", "deals": 1},
        {"period": "2024-01-01", "revenue": "2.00", "deals": 1},
    ]


def test_end_alone_covers_the_twelve_months_up_to_it(frozen, noise, organization, owner_client):
    closings(organization, (at(2021, 12, 31), "1.00"), (at(2022, 1, 1), "2.00"), (at(2022, 12, 31, 23), "4.00"))

    body = revenue(owner_client, end="2022-12-31")

    assert body["results"] == [
        {"period": "2022-01-01", "revenue": "2.00", "deals": 1},
        {"period": "2022-12-01", "revenue": "4.00", "deals": 1},
    ]


def test_reopened_and_lost_deals_do_not_count(frozen, noise, organization, owner_client):
    buyer = customer(organization)
    lost(organization, "100.00", at(2024, 3, 1), customer=buyer)
    deal(organization, "Negotiation", "100.00", customer=buyer)

    assert revenue(owner_client) == {"period": "month", "results": []}


@pytest.mark.parametrize("empty", ["period", "start", "end"])
def test_an_empty_parameter_is_400_like_any_other_empty_typed_parameter(frozen, owner_client, empty):
    response = owner_client.get(url("revenue"), {empty: ""})
    assert (response.status_code, list(response.json()["errors"])) == (400, [empty])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2024-03-16"}, "Must not be after end (today, 2024-03-15, when end is left out)."),
        ({"start": "2024-03-02", "end": "2024-03-01"}, "Must not be after end."),
    ],
)
def test_a_start_after_the_end_is_400_saying_which_end(frozen, owner_client, query, message):
    response = owner_client.get(url("revenue"), query)
    assert (response.status_code, response.json()["errors"]) == (400, {"start": [message]})


def test_empty_organization_has_no_buckets(frozen, noise, owner_client):
    for period in ("day", "week", "month", "year"):
        assert revenue(owner_client, period=period) == {"period": period, "results": []}


def test_the_other_organization_gets_its_own_buckets(frozen, organization, other_organization, other_client):
    closings(organization, (at(2024, 3, 1), "1.00"))
    closings(other_organization, (at(2024, 3, 2), "9.00"))

    assert revenue(other_client)["results"] == [{"period": "2024-03-01", "revenue": "9.00", "deals": 1}]


def test_the_calendar_edges_do_not_overflow(frozen, noise, owner_client):
    assert revenue(owner_client, period="year", start="9999-01-01", end="9999-12-31")["results"] == []
    assert revenue(owner_client, end="0001-02-01")["results"] == []


def test_longest_day_range_is_accepted(frozen, noise, organization, owner_client):
    start = date(2021, 3, 16)
    end = start + timedelta(days=MAX_DAY_RANGE_DAYS - 1)
    closings(organization, (at(2021, 3, 16), "1.00"), (at(2024, 3, 15), "2.00"))

    body = revenue(owner_client, period="day", start=start.isoformat(), end=end.isoformat())

    assert [row["period"] for row in body["results"]] == ["2021-03-16", "2024-03-15"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"period": "hour"}, "period"),
        ({"period": "MONTH"}, "period"),
        ({"start": "2024-13-01"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2024-02-30"}, "start"),
        ({"end": "15/03/2024"}, "end"),
        ({"end": "2024-03-01T00:00:00Z"}, "end"),
        ({"start": "x" * 10_000}, "start"),
        ({"start": "2024-03-02", "end": "2024-03-01"}, "start"),
        ({"start": "2024-04-01"}, "start"),  # after today, which is the default end
        ({"period": "day", "start": "2021-03-15", "end": "2024-03-15"}, "period"),  # one day too many
        ({"period": "day", "start": "0001-01-01", "end": "9999-12-31"}, "period"),
    ],
)
def test_bad_parameters_are_400_with_the_error_shape(frozen, owner_client, params, field):
    response = owner_client.get(url("revenue"), params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"]
    assert list(body["errors"]) == [field]
    assert isinstance(body["errors"][field][0], str)


def test_service_refuses_an_unknown_period(organization):
    with pytest.raises(ValidationError):
        AnalyticsService(Tenant.system(organization)).revenue(period="decade")


@pytest.mark.parametrize("period", ["day", "week", "month", "year"])
@pytest.mark.parametrize("size", [1, 20])
def test_revenue_is_one_query_whatever_the_data(
    frozen, organization, owner_client, django_assert_max_num_queries, period, size
):
    closings(organization, *[(at(2024, 1, 1) + timedelta(days=index * 3), "1.00") for index in range(size)])

    # Authentication and the membership: 2; the report: 1.
    with django_assert_max_num_queries(3):
        body = revenue(owner_client, period=period, start="2024-01-01", end="2024-03-15")
    assert sum(row["deals"] for row in body["results"]) == size


def test_the_clock_moves_the_default_range(monkeypatch, organization, owner_client):
    closings(organization, (at(2024, 1, 10), "1.00"))
    freeze(monkeypatch, at(2024, 12, 31, 23, 59))
    assert len(revenue(owner_client)["results"]) == 1
    freeze(monkeypatch, at(2025, 1, 1))  # the range now starts on 2024-02-01
    assert revenue(owner_client)["results"] == []
