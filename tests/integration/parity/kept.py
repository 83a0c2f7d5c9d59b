"""Where lambdalet answers differently from AWS on purpose, and why (the README repeats these).

Key paths as `compare` reads them; ``*`` stands for any one level.
"""

from __future__ import annotations

from typing import Final

_SYNC = (
    "AWS creates and updates functions asynchronously (State Pending, LastUpdateStatus "
    "InProgress, then Active/Successful); lambdalet finishes before it answers, so it answers "
    "the settled state"
)

_FIELDS = (
    "State", "StateReason", "StateReasonCode",
    "LastUpdateStatus", "LastUpdateStatusReason", "LastUpdateStatusReasonCode",
)  # fmt: skip

KEPT: Final = {path: _SYNC for field in _FIELDS for path in (field, f"*.{field}")}

# Not a key path: AWS gives a function a new RevisionId when its tags or its resource policy
# change; lambdalet keys warm environments by revision, so a new one would cold-start the
# function for a change that does not touch what runs. A policy's RevisionId is its target's.
SAME_REVISION_ON_TAGS_AND_POLICY: Final = (
    "tags and resource policies do not change a function's RevisionId in lambdalet"
)
