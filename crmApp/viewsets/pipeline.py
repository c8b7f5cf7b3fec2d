"""Placeholder until this resource lands."""
from rest_framework import mixins

from crmApp.mixins import OrganizationScopedViewSet
from crmApp.models import *  # noqa


class PipelineViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    queryset = Pipeline.objects.all()
    permission_resource = "pipelines"


class PipelineStageViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    queryset = PipelineStage.objects.all()
    permission_resource = "pipelines"
