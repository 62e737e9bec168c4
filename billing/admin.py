"""The billing admin; each part lives in its own module."""

from billing import admin_accounts, admin_invoices, admin_ledger, admin_switches, admin_tariffs  # noqa: F401
