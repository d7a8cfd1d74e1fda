"""The scan journal: every decision durably in SQLite before it counts (docs/journal.md)."""

from device.journal.model import Batch, JournalStats, NewRecord, Record
from device.journal.store import Journal

__all__ = ["Batch", "Journal", "JournalStats", "NewRecord", "Record"]
