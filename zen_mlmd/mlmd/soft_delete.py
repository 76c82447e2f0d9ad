"""The mark a soft delete leaves on a run context (see `zen_mlmd.mlmd.deletion`).

Its own module so that readers can tell soft-deleted runs without importing
the deletion code.
"""
from __future__ import annotations

#: Custom property a soft delete puts on a run context (when, as ISO 8601
#: UTC); listings hide such runs, a read by name shows them as deleted.
DELETED_PROPERTY = "zen_mlmd_deleted_at"
