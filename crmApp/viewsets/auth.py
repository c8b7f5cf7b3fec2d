"""Placeholder until the auth endpoints land (owned by the auth work)."""
from rest_framework.response import Response
from rest_framework.views import APIView

urlpatterns = []


class MeView(APIView):
    def get(self, request):
        return Response({"id": request.user.id})
