"""The bundled example functions (`lambdalet serve --examples DIR`): each directory holding a
`lambdalet.json` (CreateFunction settings) becomes a function of that name, if none exists."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any, Final

import trio

from engine.control.functions import FunctionService
from engine.errors import ApiError
from engine.model.arns import ACCOUNT_ID
from engine.model.function_requests import CreateFunctionRequest, parse_create_function
from engine.model.function_settings import RuntimeExplainer
from engine.registry.packaging import zip_directory

EXAMPLE_CONFIG: Final = "lambdalet.json"
DEFAULT_ROLE: Final = f"arn:aws:iam::{ACCOUNT_ID}:role/lambdalet"


def load_examples(
    examples_dir: Path,
    *,
    supported_runtimes: Collection[str],
    explain_runtime: RuntimeExplainer | None = None,
) -> list[CreateFunctionRequest]:
    """Each example is a directory with a lambdalet.json (CreateFunction settings)."""
    requests = []
    for directory in sorted(p for p in examples_dir.iterdir() if (p / EXAMPLE_CONFIG).is_file()):
        settings: dict[str, Any] = json.loads((directory / EXAMPLE_CONFIG).read_text())
        body = {"FunctionName": directory.name, "Role": DEFAULT_ROLE, **settings}
        body["Code"] = {"ZipFile": zip_directory(directory, exclude=(EXAMPLE_CONFIG,))}
        requests.append(
            parse_create_function(
                body, supported_runtimes=supported_runtimes, explain_runtime=explain_runtime
            )
        )
    return requests


async def deploy_examples(
    functions: FunctionService,
    examples_dir: Path,
    *,
    supported_runtimes: Collection[str],
    explain_runtime: RuntimeExplainer | None = None,
) -> list[str]:
    """Create each example function that does not exist yet; returns the names created."""
    deployed = []
    loaded = await trio.to_thread.run_sync(
        lambda: load_examples(
            examples_dir, supported_runtimes=supported_runtimes, explain_runtime=explain_runtime
        )
    )
    for req in loaded:
        try:
            functions.get(req.name)
            continue
        except ApiError:
            pass
        await functions.create(req)
        deployed.append(req.name)
    return deployed
