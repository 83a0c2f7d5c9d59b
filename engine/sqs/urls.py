"""Queue URLs: ``http://<the request's Host>/<account>/<name>``, and the name in one. Pure."""

from __future__ import annotations

from urllib.parse import urlsplit

from engine.model.arns import ACCOUNT_ID
from engine.sqs.errors import QueueDoesNotExist


def queue_url(host: str, name: str) -> str:
    return f"http://{host or 'localhost'}/{ACCOUNT_ID}/{name}"


def name_from_url(url: str) -> str:
    """The queue name of any URL whose path ends ``/<account>/<name>``."""
    path = urlsplit(url).path if "://" in url else url
    parts = path.rstrip("/").rsplit("/", 2)
    if len(parts) < 2 or parts[-2] != ACCOUNT_ID or not parts[-1]:
        raise QueueDoesNotExist()
    return parts[-1]
