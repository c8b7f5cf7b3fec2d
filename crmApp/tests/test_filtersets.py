"""Record filtersets share their form class and fields and copy their filters per request, without sharing state."""

import django_filters
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import QueryDict
from django.test import RequestFactory

from crmApp.filters import RecordFilterSet
from crmApp.filters.lead import LeadFilter
from crmApp.models import Employee, Lead


def test_each_filterset_has_its_own_filters_and_every_one_the_same_form_class():
    first, second = (LeadFilter(QueryDict("status=new"), Lead.objects.none()) for _ in range(2))
    assert type(first.form) is type(second.form)
    for name, filter_ in first.filters.items():
        assert filter_ is not LeadFilter.base_filters[name] and filter_ is not second.filters[name]
        assert (filter_.parent, second.filters[name].parent) == (first, second)


def test_a_filter_field_is_built_once_and_every_form_uses_it_with_a_cleaning_of_its_own():
    first, second = (LeadFilter(QueryDict(f"status={status}"), Lead.objects.none()) for status in ("new", "lost"))
    shared = LeadFilter.base_filters["status"].field
    assert first.filters["status"].field is shared and second.filters["status"].field is shared
    assert first.form.fields["status"] is shared and second.form.fields["status"] is shared
    assert first.form.fields is not second.form.fields  # a form may add or drop a field for itself
    assert first.is_valid() and second.is_valid()
    assert (first.form.cleaned_data["status"], second.form.cleaned_data["status"]) == (["new"], ["lost"])


def test_the_request_each_filterset_was_given_is_the_one_its_filters_read():
    requests = [RequestFactory().get("/"), RequestFactory().get("/")]
    filtersets = [LeadFilter(QueryDict("assigned_to=me"), Lead.objects.none(), request=r) for r in requests]
    assert [f.filters["assigned_to"].parent.request for f in filtersets] == requests


def test_a_filter_whose_choices_read_the_request_refuses_a_shared_form():
    class ByEmployee(RecordFilterSet):
        employee = django_filters.ModelChoiceFilter(field_name="assigned_to", queryset=Employee.objects.all())

        class Meta:
            model = Lead
            fields = ["employee"]

    with pytest.raises(ImproperlyConfigured, match="employee"):
        ByEmployee(QueryDict("employee=1"), Lead.objects.none()).is_valid()
