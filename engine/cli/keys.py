"""``lambdalet create-access-key``: a key pair for the TCP API and AWS_IAM function URLs,
appended to the daemon's root-only credentials file (the daemon re-reads it on change)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from engine.auth.credentials import add_key, generate_key_pair
from engine.config import Config


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    k = sub.add_parser(
        "create-access-key",
        help="make an access key for boto3 / the AWS CLI (run as root, on the daemon's host)",
    )
    k.add_argument("--profile", required=True, help="a name for the key (its [section])")
    k.add_argument(
        "--credentials-file",
        type=Path,
        default=Config().credentials_file,
        help=f"the daemon's credentials file (default {Config().credentials_file})",
    )


def run(args: argparse.Namespace) -> int:
    path: Path = args.credentials_file
    if os.geteuid() != 0:
        raise ValueError("create-access-key must run as root: the credentials file is root's")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_id, secret = generate_key_pair()
    add_key(path, args.profile, key_id, secret)
    print(json.dumps({"AccessKeyId": key_id, "SecretAccessKey": secret, "File": str(path)},
                     indent=4))  # fmt: skip
    return 0
