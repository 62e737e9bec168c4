"""Delevera's API (``/push/v1``, ``/SMS/v1``, ``/omni/v1``): its products share one error
body (``errors``) and one set of states (``states``)."""
