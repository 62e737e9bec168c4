"""Moved to ``notifications.core.claims``; kept importable while the webhooks land."""

from notifications.core.claims import claim_param, claim_pending, claim_pending_rows, due_chunks  # noqa: F401
