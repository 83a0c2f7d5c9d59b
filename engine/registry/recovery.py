"""After a crash: make the blobs agree with the committed rows before anything is served.

Rows commit after their blobs are complete, and deletions commit before their blobs go, so a
crash can leave only extra files (temporaries, orphans of uncommitted rows or cut-short
deletions), never a row without its code, except where the disk lost a tree: that one is
extracted again from its zip, and a missing /opt tree is merged again from its layers.
"""

from __future__ import annotations

import logging

from engine.errors import ApiError
from engine.model.function import LayerRef
from engine.registry.blobs import DIGEST_RE, Blobs, remove_path
from engine.registry.codezip import extract_zip
from engine.registry.store import Store

logger = logging.getLogger(__name__)


def recover(store: Store, blobs: Blobs) -> None:
    """Drop temporaries and orphans, and unzip again any missing tree."""
    with store.lock:
        configs = store.every_configuration()
        referenced = store.live_layer_digests()
    opt_keys = {c.opt_key: c.layers for c in configs if c.opt_key}
    for config in configs:
        referenced.add(config.code_digest)
        referenced.update(ref.digest for ref in config.layers)
    for child in blobs.code_root.iterdir():
        stem = child.name.removesuffix(".zip")
        if child.name.startswith("."):
            remove_path(child)  # an interrupted extraction, upload or deletion
        elif DIGEST_RE.fullmatch(stem) and stem not in referenced:
            remove_path(child)  # its row never committed, or its deletion was cut short
    _recover_opt(blobs, opt_keys)
    for digest in referenced:
        tree = blobs.code_root / digest
        blob = blobs.code_root / f"{digest}.zip"
        if tree.is_dir():
            continue
        if not blob.is_file():
            logger.error("code %s is missing: functions using it cannot be invoked", digest)
            continue
        logger.warning("re-extracting code tree %s from its zip", digest)
        try:
            extract_zip(blob.read_bytes(), tree, durable=blobs.durable)
        except (ApiError, OSError) as exc:
            # One damaged package must not keep the daemon from starting.
            logger.error("cannot re-extract code %s: %s", digest, exc)


def _recover_opt(blobs: Blobs, opt_keys: dict[str, tuple[LayerRef, ...]]) -> None:
    """Drop merged /opt trees nothing uses; rebuild missing ones from their layers."""
    if blobs.opt_root.is_dir():
        for child in blobs.opt_root.iterdir():
            if child.name not in opt_keys:
                remove_path(child)
    for key, layers in opt_keys.items():
        if (blobs.opt_root / key).is_dir():
            continue
        logger.warning("rebuilding the /opt tree %s from its layers", key)
        try:
            blobs.merge_opt(key, [ref.digest for ref in layers])
        except (OSError, ValueError) as exc:
            logger.error("cannot rebuild the /opt tree %s: %s", key, exc)
