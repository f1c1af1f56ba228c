"""Instants in UTC: the one rule for a datetime without a zone.

The database stores every instant in UTC, and SQLite hands them back naive; schedules, cutoffs
and leases are compared as aware UTC instants. Nothing here reads the clock or the store, so the
pure modules (``schedule``) and the pipeline share it.
"""
from __future__ import annotations

from datetime import datetime, timezone


def as_utc(moment: datetime) -> datetime:
    """A naive datetime is UTC (as stored); an aware one is returned as it is."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
