"""The delivery core: what every channel (push, SMS, and the ones to come) shares.

It imports no feature app. A channel plugs into it what is its own (how to load a
claimed row's content and endpoint, how to call its providers, what to do after
recording) and gets the rest from here:

- ``status``: the one status model, its public mapping and the send-level roll-up;
- ``models``: the abstract outbox row (status, error, attempts, timers, claim, lease),
  the status events and the consumers' cursors;
- ``claims``: claiming rows, due rows and expired leases;
- ``retry``: the one retry policy (backoff with jitter, a cap, Retry-After honoured);
- ``outcome``: the one outcome type every provider adapter answers with;
- ``pipeline``: claim -> send -> record, the skeleton every channel runs;
- ``clients``: the per-process cache of provider clients;
- ``events``: recording status events in bulk, consuming them exactly once, purging them.
"""
