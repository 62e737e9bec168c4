"""Reports fixtures: the SMS channel's, to count a send made by the real pipeline."""

from sms.tests.conftest import _fresh_route_clients, log_route, sender  # noqa: F401
