"""The billing admin; each part lives in its own module."""

from billing import admin_invoices  # noqa: F401
