"""Invoke: resolve the function, get an environment (warm or cold), run, log, release."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from engine.control.functions import FunctionService
from engine.errors import ResourceNotFoundException, ServiceException
from engine.invoke.concurrency import Concurrency
from engine.invoke.pool import Pool
from engine.model.arns import function_arn
from engine.model.function import LATEST, FunctionConfig
from engine.runtime.environment import InvokeOutcome, PlatformError
from sandbox.protocol import Invoke

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokeResult:
    outcome: InvokeOutcome
    executed_version: str
    request_id: str
    cold: bool


class Invoker:
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

    async def invoke(
        self,
        name: str,
        qualifier: str | None,
        payload: bytes,
        *,
        client_context: str | None = None,
    ) -> InvokeResult:
        try:
            target = self.functions.resolve(name, qualifier)
        except ResourceNotFoundException:
            raise self._not_found(name, qualifier) from None
        config = target.config
        request_id = str(uuid.uuid4())
        # raises the 429 before anything is started
        self.concurrency.acquire(name, target.qualifier or LATEST, config.version)
        try:
            return await self._run(config, target.qualifier, request_id, payload, client_context)
        finally:
            self.concurrency.release(name)

    async def _run(
        self,
        config: FunctionConfig,
        qualifier: str | None,
        request_id: str,
        payload: bytes,
        client_context: str | None,
    ) -> InvokeResult:
        name = config.name
        try:
            env, cold = await self.pool.acquire(config)
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
        finally:
            self.pool.release(env, reusable=reusable)
        return InvokeResult(
            outcome=outcome, executed_version=config.version, request_id=request_id, cold=cold
        )
