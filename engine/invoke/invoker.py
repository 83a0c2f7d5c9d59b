"""Invoke: resolve the function, get an environment (warm or cold), run, log, release.

What happened is reported to an optional `InvokeObserver` (the metrics), daemon-wired: its
series for the invoked (function, qualifier) is looked up once, when the unit is reserved, and
carried on the `Reservation`; a run then costs it one call.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from engine.control.functions import FunctionService
from engine.errors import (
    ResourceNotFoundException,
    ServiceException,
    ServiceStopping,
    TooManyRequestsException,
)
from engine.invoke.concurrency import Concurrency
from engine.invoke.pool import Pool
from engine.model.arns import function_arn
from engine.model.function import LATEST, FunctionConfig
from engine.runtime.environment import InvokeOutcome, PlatformError
from sandbox.protocol import Invoke

logger = logging.getLogger(__name__)

# Told of every invocation that ran (billed on Lambda): the version's configuration, the
# qualifier as invoked (None: unqualified), the outcome (its billed duration) and whether a
# provisioned environment served it. Called on the event loop right after the invoke; it must
# be O(1) and never raise (the usage ledger's `record` is one).
InvokedHook = Callable[[FunctionConfig, str | None, InvokeOutcome, bool], None]
REQUEST_RESPONSE: Final = "RequestResponse"  # invocation types, as X-Amz-Invocation-Type
EVENT: Final = "Event"


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokeResult:
    outcome: InvokeOutcome
    executed_version: str
    request_id: str
    cold: bool


class InvokeSeries(Protocol):
    """One (function, qualifier)'s counters (`InvokeObserver.series`)."""

    def invoked(
        self, outcome: InvokeOutcome, reservation: Reservation, *, provisioned: bool
    ) -> None: ...

    def throttled(self) -> None: ...


class InvokeObserver(Protocol):
    def series(self, name: str, qualifier: str) -> InvokeSeries: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    """A resolved invocation holding one concurrency unit (`Invoker.reserve`)."""

    config: FunctionConfig
    qualifier: str | None
    invocation_type: str = REQUEST_RESPONSE
    series: InvokeSeries | None = None  # where its outcome is counted


class Invoker:
    # A `reserve` was refused (429) since the `on_release` hooks last ran: someone may be
    # waiting for room. A class default, so subclasses that skip __init__ (fakes) have it.
    _refused_since_hooks = False
    invocations = 0  # invocations started (`run`), for the STATUS= line's rate
    stopping = False  # the daemon is stopping: `reserve` refuses new invokes
    observer: InvokeObserver | None = None  # the metrics, when the daemon wires them

    def __init__(
        self,
        *,
        functions: FunctionService,
        pool: Pool,
        region: str,
        concurrency: Concurrency,
    ) -> None:
        self.functions = functions
        self.pool = pool
        self.region = region
        self.concurrency = concurrency
        # Called after a release of a concurrency unit when a `reserve` was refused for lack
        # of room since they were last called (the async queue waits for room). Not after
        # every release: a busy function's invokes would wake the queue's task every time.
        self.on_release: list[Callable[[], None]] = []
        self.on_invoked: list[InvokedHook] = []

    def stop_admitting(self) -> None:
        """The daemon is stopping: every new invoke is refused (503 ServiceException);
        those already reserved run to their end."""
        self.stopping = True

    @property
    def in_flight(self) -> int:
        return sum(self.concurrency.in_flight.values())

    def check(self, name: str, qualifier: str | None) -> None:
        """DryRun: the function (and qualifier) exist and may be invoked."""
        try:
            self.functions.check_qualifier(name, qualifier)
        except ResourceNotFoundException:
            raise self._not_found(name, qualifier) from None

    def _not_found(self, name: str, qualifier: str | None) -> ResourceNotFoundException:
        """An invoke names what it missed with its qualifier, ``$LATEST`` when none was given."""
        arn = function_arn(self.region, name, qualifier or LATEST)
        return ResourceNotFoundException(f"Function not found: {arn}")

    def reserve(
        self, name: str, qualifier: str | None, *, invocation_type: str = REQUEST_RESPONSE
    ) -> Reservation:
        """Resolve the function and take a concurrency unit for one invocation, or raise
        (404, or the 429 before anything is started). Follow with `run`, which releases it.

        A refused synchronous invoke counts as a throttle; an asynchronous event refused
        room waits in its queue (its age tells), so it does not."""
        if self.stopping:
            raise ServiceStopping(
                "lambdalet is stopping (SIGTERM) and accepts no new invocations; retry once "
                "it has restarted"
            )
        try:
            target = self.functions.resolve(name, qualifier)
        except ResourceNotFoundException:
            raise self._not_found(name, qualifier) from None
        config = target.config
        series = None
        if self.observer is not None:
            series = self.observer.series(name, target.qualifier or LATEST)
        try:
            self.concurrency.acquire(name, target.qualifier or LATEST, config.version)
        except TooManyRequestsException:
            self._refused_since_hooks = True
            if series is not None and invocation_type == REQUEST_RESPONSE:
                series.throttled()
            raise
        return Reservation(
            config=config,
            qualifier=target.qualifier,
            invocation_type=invocation_type,
            series=series,
        )

    async def run(
        self,
        reservation: Reservation,
        payload: bytes,
        *,
        request_id: str,
        client_context: str | None = None,
    ) -> InvokeResult:
        """Run a reserved invocation and release its unit (also on errors)."""
        self.invocations += 1
        try:
            return await self._run(reservation, request_id, payload, client_context)
        finally:
            self.release(reservation)

    def release(self, reservation: Reservation) -> None:
        """Give a reservation's unit back (`run` does; call it for one that will not run)."""
        self.concurrency.release(reservation.config.name)
        if self._refused_since_hooks:
            self._refused_since_hooks = False
            for hook in self.on_release:
                hook()

    async def invoke(
        self,
        name: str,
        qualifier: str | None,
        payload: bytes,
        *,
        client_context: str | None = None,
    ) -> InvokeResult:
        """A synchronous invocation: `reserve`, then `run` under a new request id."""
        reservation = self.reserve(name, qualifier)
        return await self.run(
            reservation, payload, request_id=str(uuid.uuid4()), client_context=client_context
        )

    async def _run(
        self,
        reservation: Reservation,
        request_id: str,
        payload: bytes,
        client_context: str | None,
    ) -> InvokeResult:
        config, qualifier, series = reservation.config, reservation.qualifier, reservation.series
        name = config.name
        try:
            env, cold = await self.pool.acquire(config)
        except TooManyRequestsException:  # no memory or uid for a cold start
            if series is not None and reservation.invocation_type == REQUEST_RESPONSE:
                series.throttled()
            raise
        except PlatformError as exc:
            logger.error("request %s: could not start an environment: %s", request_id, exc)
            raise ServiceException(
                f"lambdalet could not start an execution environment: {exc}"
            ) from exc
        reusable = False
        try:
            deadline_ms = int(time.time() * 1000) + config.timeout_s * 1000
            arn = function_arn(self.region, name, qualifier)
            inv = Invoke(
                request_id=request_id,
                deadline_ms=deadline_ms,
                invoked_function_arn=arn,
                payload=payload,
                client_context=client_context,
            )
            outcome = await env.invoke(inv, timeout_s=config.timeout_s)
            reusable = outcome.reusable
            provisioned = env.provisioned_for is not None
            for hook in self.on_invoked:
                hook(config, qualifier, outcome, provisioned)
            if series is not None:
                series.invoked(outcome, reservation, provisioned=env.provisioned_for is not None)
        finally:
            self.pool.release(env, reusable=reusable)
        return InvokeResult(
            outcome=outcome, executed_version=config.version, request_id=request_id, cold=cold
        )
