"""The public site's pages, included at the root (softafrik/urls.py). The same paths serve
both languages: the language switch posts to Django's set_language (/i18n/setlang/),
which remembers the choice in the language cookie."""

from django.urls import path

from website import views

app_name = "website"

urlpatterns = [
    path("", views.home, name="home"),
    path("docs/", views.docs_index, name="docs"),
    path("docs/<slug:dialect>/", views.docs_dialect, name="docs-dialect"),
    path("tarifs/", views.pricing, name="pricing"),
    path("a-propos/", views.about, name="about"),
]
