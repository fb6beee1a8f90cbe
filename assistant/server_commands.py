"""`glassmind models add-server URL` and `remove-server NAME`: a model served from another machine.

Adding says plainly what leaves the computer and asks once; it tests the connection and reports what
the server offers (exact or estimated counts, context size, template); the key goes to the system
keyring, or is read from an environment variable the user names, or is asked once per run -- never
written to the database, an export or a log.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from models.errors import InvalidInputError, ServedModelError
from models.server_http import parse_address
from models.servers import WHAT_LEAVES, ServerEntry, ServerRegistry, probe, store_key


def add_parsers(ops: Any, number: Any) -> None:
    add = ops.add_parser("add-server", help="a model served by llama-server, vLLM or any OpenAI-compatible server")
    add.add_argument("url", metavar="URL", help="e.g. http://192.168.1.20:8080 or https://gpu-box.example.org")
    add.add_argument("--name", metavar="N", help="the name to choose it by (default: the served model's)")
    add.add_argument("--model", metavar="ID", help="which of the server's models (OpenAI-compatible servers)")
    add.add_argument("--key-env", metavar="VAR", help="read the API key from this environment variable each run")
    add.add_argument("--ctx", type=number("a context size from 256 to 10,485,760 tokens", 256, 10_485_760),
                     metavar="N", help="the server's context size, when it does not say it")
    add.add_argument("--allow-http", action="store_true",
                     help="plain http to an address outside this computer and private networks (unencrypted)")
    add.add_argument("--yes", action="store_true", help="agree to sending the context window to that server")
    rm = ops.add_parser("remove-server", help="remove a server (and its key from the keyring)")
    rm.add_argument("name", metavar="NAME")


def run(app: Any, args: argparse.Namespace) -> int:
    servers = ServerRegistry(app.data_dir)
    if args.models_op == "remove-server":
        servers.remove(args.name)
        print(f"Removed the server {args.name} (and its key, if the keyring held one).")
        return 0
    return _add(servers, args)


def _ask_yes(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(question).strip().lower() in ("y", "yes")


def _add(servers: ServerRegistry, args: argparse.Namespace) -> int:
    address = parse_address(args.url, allow_plain_http=args.allow_http)
    print(WHAT_LEAVES.format(where=address.location), file=sys.stderr)
    if address.scheme == "http":
        print(f"The connection to {address.location} is plain http: not encrypted.", file=sys.stderr)
    if not args.yes and not _ask_yes("Add this server? [y/N] "):
        raise InvalidInputError("Nothing was added: run again with --yes to agree, or answer y.")
    key = os.environ.get(args.key_env) if args.key_env else None
    if args.key_env and not key:
        raise InvalidInputError(f"The environment variable {args.key_env} is empty: set it to the server's API key.")
    typed = False
    try:
        offer = probe(address.url, api_key=key, allow_plain_http=args.allow_http)
    except ServedModelError as exc:
        if exc.status not in (401, 403) or key or not sys.stdin.isatty():
            raise
        key = getpass.getpass(f"API key for {address.location} (not shown, not echoed): ").strip()
        typed = True
        offer = probe(address.url, api_key=key, allow_plain_http=args.allow_http)
    model = args.model
    if model is not None and offer.models and model not in offer.models:
        raise InvalidInputError(f"{address.location} does not serve {model}; it has {', '.join(offer.models[:5])}.")
    name = args.name or model or (offer.models[0] if offer.models else address.host)
    entry = servers.add(ServerEntry(
        name=name, url=address.url, kind=offer.kind, model_id=model or (offer.models[0] if offer.models else None),
        key_env=args.key_env, plain_http=args.allow_http, n_ctx=args.ctx,
    ))
    print(f"Added {entry.name} on {address.location}: {offer.describe()}.")
    if typed and key:
        if store_key(entry.name, key):
            print("The API key is kept in the system keyring.")
        else:
            print("There is no system keyring here: the key will be asked once each run "
                  "(or name an environment variable with --key-env).", file=sys.stderr)
    print(f"Chat with it: glassmind chat --model {entry.name}")
    return 0
