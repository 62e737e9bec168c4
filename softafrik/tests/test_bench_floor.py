"""The benchmark's floor view: the real to-user view's authentication and validation, and
no database once the key is known."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from bench.floor import FLOOR_PATH

pytestmark = [pytest.mark.django_db, pytest.mark.urls("bench.urls")]

BODY = {"puid": "sa_1_anyone", "title": "Your order has shipped", "body": "It arrives tomorrow."}


def test_the_floor_answers_202_without_a_query_once_the_key_is_known(owner, django_assert_num_queries):
    assert owner.post(f"/{FLOOR_PATH}", BODY).status_code == 202
    with django_assert_num_queries(0):
        response = owner.post(f"/{FLOOR_PATH}", BODY)
    assert response.status_code == 202
    assert set(response.json()) == {"id", "status", "cost", "unit"}


def test_the_floor_authenticates_as_the_real_view():
    response = APIClient().post(f"/{FLOOR_PATH}", BODY, format="json")
    assert response.status_code == 401


def test_the_floor_validates_as_the_real_view(owner):
    response = owner.post(f"/{FLOOR_PATH}", {**BODY, "title": ""})
    assert response.status_code == 400
    assert response.json()["field"] == "title"
