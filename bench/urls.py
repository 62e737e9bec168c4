"""The platform's URLs plus the bench's floor view (``bench.floor``)."""

from django.urls import path

from bench.floor import FLOOR_PATH, AcceptFloorView
from softafrik.urls import urlpatterns as platform_urlpatterns

urlpatterns = [path(FLOOR_PATH, AcceptFloorView.as_view()), *platform_urlpatterns]
