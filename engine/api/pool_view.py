"""lambdalet's view of its sandboxes: one JSON document under `/lambdalet/v1/`.

    GET /lambdalet/v1/pool    {"Environments": {...}, "Stems": {...}, "Enis": {...}, "Uids": {...},
                               "SnapStart": {"Templates": [...], "Restored": n}}

Environments by state (and how many of the idle ones are frozen or provisioned), ready and
pending stems with the target the cold-start rate sets and how cold starts got theirs (a ready
stem, or one made on the spot), ready ENIs per network, the uids left, and SnapStart's
templates (ready or being built, with their ready shells) and how many environments were
restored from one. Read-only counters
for operators, benchmarks and tests.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import trio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.api.common import Handler
from engine.invoke.pool import Pool


def pool_document(pool: Pool) -> dict[str, Any]:
    now = trio.current_time()
    states = Counter(env.state.value for env in pool.live)
    stems = pool.stems
    doc: dict[str, Any] = {
        "Environments": {
            "Live": len(pool.live),
            **{state.capitalize(): n for state, n in sorted(states.items())},
            "Frozen": len(pool.frozen),
            "Provisioned": sum(len(envs) for envs in pool.provisioned.values()),
        },
        "Stems": {
            "Ready": len(stems.ready),
            "Pending": stems.pending,
            "Target": stems.demand.target(now),
            "ColdStartsWithReadyStem": stems.taken_ready,
            "ColdStartsMakingTheirOwn": stems.made_on_demand,
        },
        "Uids": {"Available": pool.uids.available, "Total": pool.config.sandbox.uid_count},
        "SnapStart": {
            "Templates": [
                {
                    "FunctionName": t.function.name,
                    "Version": t.function.version,
                    "Ready": t.ready,
                    "Failed": t.failed_at is not None,
                    "ReadyShells": len(t.shells),
                }
                for t in pool.templates.by_key.values()
            ],
            "Restored": pool.templates.restored,
        },
    }
    if pool.network is not None:
        enis = pool.network.enis
        doc["Enis"] = {
            "InUse": len(enis.enis) - sum(len(r) for r in enis.ready.values()),
            "Ready": {"/".join(k[0]) or "default": len(r) for k, r in sorted(enis.ready.items())},
        }
    return doc


class PoolViewApi:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def get(self, request: Request) -> Response:
        return Response(json.dumps(pool_document(self.pool)), media_type="application/json")


def pool_view_routes(api: PoolViewApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    return [Route("/lambdalet/v1/pool", guard(api.get), methods=["GET"])]
