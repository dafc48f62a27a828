"""``diaspora-fabric user ...`` and ``client ...``: local accounts and OAuth clients.

They work on the identity provider's SQLite state directly, so they work whether or not the
fabric is running. Passwords come from a prompt or standard input, never from argv (argv is
visible to every user in ``ps``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.fabric.home import FabricHome, random_secret


def _state_dir(args: argparse.Namespace) -> str:
    return str(FabricHome.resolve(args.home).idp_dir)


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new password and whether we generated it (then it is printed once)."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise DiasporaUsageError("no password on standard input",
                                     hint="pipe one line, e.g. `echo \"$PW\" | ... "
                                     "--password-stdin`")
        return password, False
    if args.generate_password or not sys.stdin.isatty():
        return random_secret(20), True
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat password: "):
        raise DiasporaUsageError("the passwords do not match", hint="run the command again")
    return first, False


def cmd_user(args: argparse.Namespace) -> int:
    from diaspora_notebook.fabric.idp import admin

    state = _state_dir(args)
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
        admin.remove_user(state, args.username)
        print(f"removed {args.username} and revoked its tokens")
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
                                             redirect_uris=args.redirect_uri or ())
        print(json.dumps({"client_id": client_id, "client_secret": secret}, indent=2))
        if secret:
            print("the secret is shown once; store it in a 0600 file", file=sys.stderr)
    elif args.action == "list":
        for client in admin.list_clients(state):
            kind = "confidential" if client["confidential"] else "native"
            print(f"{client['client_id']}  {kind:<12} {client['name']}")
    elif args.action == "remove":
        admin.remove_client(state, args.client_id)
        print(f"removed client {args.client_id} and revoked its tokens")
    return 0


def add_parsers(sub: argparse._SubParsersAction, home_help: str) -> None:
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
    p = actions.add_parser("remove", help="delete an account and revoke its tokens")
    p.add_argument("username")
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
    p = actions.add_parser("list", help="list clients")
    p.add_argument("--home", help=home_help)
    p = actions.add_parser("remove", help="delete a client and revoke its tokens")
    p.add_argument("client_id")
    p.add_argument("--home", help=home_help)
