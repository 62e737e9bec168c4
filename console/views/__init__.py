"""Sending from the dashboard (``/admin/send/...``): the three steps every form goes
through (``steps``), and each channel's form, send and result page."""
