"""The SoftAfrik account API, included under /api/ (softafrik/urls.py)."""

from django.urls import path

from billing import api

urlpatterns = [
    path("account", api.AccountView.as_view()),
    path("account/usage", api.UsageView.as_view()),
    path("account/entries", api.EntriesView.as_view()),
    path("account/price", api.PriceView.as_view()),
]
