"""``diaspora-fabric user ...`` and ``client ...``: local accounts and OAuth clients.

They work on the identity provider's SQLite state directly, so they work whether or not the
fabric is running, except ``remove``: it also deletes the account's Kafka key, topics (with
their events) and grants, so the brokers must answer. Passwords come from a prompt or standard
input, never from argv (argv is visible to every user in ``ps``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import uuid
from collections.abc import Callable

from diaspora_notebook.fabric.errors import FabricUsageError
from diaspora_notebook.fabric.home import FabricHome, random_secret


def _state_dir(args: argparse.Namespace) -> str:
    return str(FabricHome.resolve(args.home).idp_dir)


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new password and whether we generated it (then it is printed once)."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise FabricUsageError("no password on standard input",
                                     hint="pipe one line, e.g. `echo \"$PW\" | ... "
                                     "--password-stdin`")
        return password, False
    if args.generate_password or not sys.stdin.isatty():
        return random_secret(20), True
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat password: "):
        raise FabricUsageError("the passwords do not match", hint="run the command again")
    return first, False


def _as_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _remove(home: str | None, what: str, label: str, principal: str,
            remove_login: Callable[[], None] | None) -> None:
    """Remove the login (if there still is one) and everything ``principal`` holds in Kafka.

    An id without a login (removed earlier while Kafka was down) gets the Kafka sweep alone.
    """
    from diaspora_notebook.fabric import kafka_cli

    report = kafka_cli.remove_account(FabricHome.resolve(home), principal,
                                      remove_login or (lambda: None))
    if remove_login is None:
        print(f"no {what} {label} in the identity provider; removed its Kafka access")
    else:
        print(f"removed {what} {label} ({principal}) and revoked its tokens")
    for line in report.lines():
        print(f"  {line}")


def _remove_user(args: argparse.Namespace, state: str) -> None:
    from diaspora_notebook.fabric.idp import admin

    try:
        identity = admin.user_id(state, args.username)
    except FabricUsageError:
        stray = _as_uuid(args.username)
        if stray is None:
            raise
        _remove(args.home, "user", args.username, stray, None)
        return

    def remove_login() -> None:
        admin.remove_user(state, args.username)

    _remove(args.home, "user", args.username, identity, remove_login)


def _remove_client(args: argparse.Namespace, state: str) -> None:
    from diaspora_notebook.fabric.idp import admin

    wanted = _as_uuid(args.client_id)
    if wanted is None:
        raise FabricUsageError(f"unknown client {args.client_id!r}",
                                 hint="`diaspora-fabric client list` shows the registered ones")
    stored = next((c["client_id"] for c in admin.list_clients(state)
                   if _as_uuid(c["client_id"]) == wanted), None)

    def remove_login() -> None:
        admin.remove_client(state, stored or wanted)

    _remove(args.home, "client", args.client_id, stored or wanted,
            remove_login if stored else None)


def cmd_user(args: argparse.Namespace) -> int:
    from diaspora_notebook.fabric.idp import admin

    state = _state_dir(args)
    if args.action == "limits":
        from diaspora_notebook.fabric import limits_cli

        return limits_cli.run(args)
    if args.action == "add":
        password, generated = _read_password(args)
        identity = admin.add_user(state, args.username, password, name=args.name,
                                  email=args.email)
        print(f"created {args.username} with identity id {identity}")
        if generated:
            print(f"password: {password}  (shown once; change it with `user passwd`)")
    elif args.action == "list":
        for user in admin.list_users(state):
            print(f"{user['username']:<24} {user['id']}  {user.get('name') or ''}")
    elif args.action == "remove":
        _remove_user(args, state)
    elif args.action == "passwd":
        password, generated = _read_password(args)
        admin.set_password(state, args.username, password)
        print(f"password changed for {args.username}")
        if generated:
            print(f"password: {password}  (shown once)")
    return 0


def cmd_client(args: argparse.Namespace) -> int:
    from diaspora_notebook.fabric.idp import admin

    state = _state_dir(args)
    if args.action == "add":
        client_id, secret = admin.add_client(state, args.name, confidential=args.confidential,
                                             redirect_uris=args.redirect_uri or (),
                                             loopback_redirects=args.allow_loopback_redirect)
        print(json.dumps({"client_id": client_id, "client_secret": secret}, indent=2))
        if secret:
            print("the secret is shown once; store it in a 0600 file", file=sys.stderr)
    elif args.action == "list":
        for client in admin.list_clients(state):
            kind = "confidential" if client["confidential"] else "native"
            print(f"{client['client_id']}  {kind:<12} {client['name']}")
    elif args.action == "remove":
        _remove_client(args, state)
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser], home_help: str) -> None:
    user = sub.add_parser("user", help="manage local accounts of the identity provider")
    user.set_defaults(func=cmd_user)
    actions = user.add_subparsers(dest="action", required=True)
    for name in ("add", "passwd"):
        p = actions.add_parser(name, help=f"{name} a user's password"
                               if name == "passwd" else "create an account")
        p.add_argument("username")
        p.add_argument("--home", help=home_help)
        p.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input")
        p.add_argument("--generate-password", action="store_true",
                       help="generate a random password and print it once")
        if name == "add":
            p.add_argument("--name", help="display name")
            p.add_argument("--email")
    p = actions.add_parser("list", help="list accounts")
    p.add_argument("--home", help=home_help)
    p = actions.add_parser("limits", help="show or change an account's Kafka quotas and "
                           "topic cap (the brokers must answer)")
    p.add_argument("--home", help=home_help)
    from diaspora_notebook.fabric.limits_cli import add_arguments as add_limit_arguments

    add_limit_arguments(p)
    p = actions.add_parser("remove", help="delete an account, revoke its tokens, and delete its "
                           "Kafka key, its topics (with their events) and its grants")
    p.add_argument("username", help="the username (or the identity id of an account whose "
                   "Kafka access is still to be removed)")
    p.add_argument("--home", help=home_help)

    client = sub.add_parser("client", help="manage OAuth clients (confidential ones for CI)")
    client.set_defaults(func=cmd_client)
    actions = client.add_subparsers(dest="action", required=True)
    p = actions.add_parser("add", help="register a client and print its id (and secret)")
    p.add_argument("name")
    p.add_argument("--home", help=home_help)
    p.add_argument("--confidential", action="store_true",
                   help="a client with a secret, for headless use (ClientApp)")
    p.add_argument("--redirect-uri", action="append", help="an allowed redirect URI")
    p.add_argument("--allow-loopback-redirect", action="store_true",
                   help="a native client may also redirect to any http://127.0.0.1 or "
                   "localhost port (off by default: any local account can listen there)")
    p = actions.add_parser("list", help="list clients")
    p.add_argument("--home", help=home_help)
    p = actions.add_parser("remove", help="delete a client, revoke its tokens, and delete its "
                           "Kafka key, its topics (with their events) and its grants")
    p.add_argument("client_id")
    p.add_argument("--home", help=home_help)

    from diaspora_notebook.fabric.kafka_cli import add_parsers as add_topic_parsers

    add_topic_parsers(sub, home_help)
