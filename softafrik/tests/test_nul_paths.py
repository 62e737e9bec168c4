"""A NUL character in a path's id matches no route: the dialect's 404, never a 500 (it
cannot reach a PostgreSQL text column)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/apps/a%00b", {"error": "not_found", "message": "No such path."}),
        ("/api/push/messages/a%00b", {"error": "not_found", "message": "No such path."}),
        ("/api/V1/sms/a%00b", None),
        ("/v2/notification/messages/a%00b/status", None),
        ("/SMS/v1/messages/a%00b", None),
        ("/push/v1/applications/a%00b/devices/x%00y", None),
        ("/omni/v1/scenarios/a%00b", None),
    ],
)
def test_a_nul_in_a_path_is_the_dialects_404(owner, path, body):
    response = owner.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    if body is not None:
        assert response.json() == body
