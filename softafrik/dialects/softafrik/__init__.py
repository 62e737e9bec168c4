"""SoftAfrik's own API (``/api/users``, ``/api/devices``, ``/api/push``, ``/api/webhooks``):
errors in softafrik.api's body."""
