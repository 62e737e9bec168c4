"""Tenant webhooks: the first consumer of status events, for every channel.

- ``models``: endpoints (the tenant's own, and its legacy ``status_callback_url``),
  deliveries (an outbox row per endpoint and event) and their attempts;
- ``event_types``: the event types a receiver can ask for, documented in docs/webhooks.md;
- ``channels``: what each channel adds to an event's data (one query per batch);
- ``consumer``: status events -> deliveries, in bulk, exactly once;
- ``signing``: Standard Webhooks signatures and the legacy ``X-SoftAfrik-Signature``;
- ``ssrf`` / ``transport``: the address guard and the one pinned, keep-alive HTTP client;
- ``delivery``: claim -> POST -> record, the retry schedule, 410;
- ``services`` / ``selectors`` / ``api`` / ``admin`` / ``tasks``: as in every app.
"""
