"""The floor of ``POST /api/push/to-user``: what the same gunicorn costs per request when
the view authenticates the key, checks its scopes and validates the body exactly as the
real view does, then answers 202 without touching the database (the key's lookup is
cached in the process after its first use, as in production).

``bench/push_bench.py`` serves it from ``bench.settings`` (``bench.urls``) and sets the
real accept's rate against it: what the platform's own work per accepted push costs on
top of HTTP, Django and DRF. Production URLs never include it.
"""

from __future__ import annotations

import uuid

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from softafrik.dialects.common import valid_input
from softafrik.dialects.softafrik.push import ToUserIn

FLOOR_PATH = "bench/floor/to-user"


class AcceptFloorView(APIView):
    """The real view's authentication, permission and input validation; no service call."""

    def post(self, request):
        valid_input(ToUserIn, request)
        return Response(
            {"id": str(uuid.uuid4()), "status": "queued", "cost": "0.00", "unit": "credits"},
            status=status.HTTP_202_ACCEPTED,
        )
