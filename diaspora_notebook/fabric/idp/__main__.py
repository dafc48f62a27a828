"""``python -m diaspora_notebook.fabric.idp --state-dir DIR --host H --port P --issuer URL``.

Runs uvicorn with its access log OFF: access log lines carry query strings, and the
auth-code page's query string holds a live authorization code.

Trusted proxies and the login throttle can also be set through the environment, so
``diaspora-fabric up`` passes them on unchanged: ``DIASPORA_IDP_TRUSTED_PROXIES`` (comma
separated addresses or networks; none by default) and ``DIASPORA_IDP_LOGIN_MAX_FAILURES_PER_USER``,
``..._PER_SOURCE``, ``DIASPORA_IDP_LOGIN_LOCK_SECONDS``, ``..._LOCK_MAX_SECONDS``,
``DIASPORA_IDP_LOGIN_FAILURE_WINDOW``.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from diaspora_notebook.fabric.idp.settings import IdpSettings

ENV_PREFIX = "DIASPORA_IDP_"
_THROTTLE_OPTIONS: tuple[tuple[str, type[int] | type[float], str], ...] = (
    ("login_max_failures_per_user", int, "failed logins of one account before it is locked"),
    ("login_max_failures_per_source", int,
     "failed logins from one address before it is locked (>= the per-user limit)"),
    ("login_lock_seconds", float, "the first lock; each further failure doubles it"),
    ("login_lock_max_seconds", float, "the longest lock"),
    ("login_failure_window", float, "seconds without a failure after which a count restarts"),
)


def _env_default(name: str) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper()) or None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m diaspora_notebook.fabric.idp",
                                     description="Local Globus Auth-compatible IdP")
    parser.add_argument("--state-dir", required=True, type=Path,
                        help="directory with the SQLite state and the signing key")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--issuer", default=None,
                        help="public base URL ending with '/' (default http://HOST:PORT/)")
    parser.add_argument("--access-token-lifetime", type=int, default=172800, metavar="SECONDS")
    parser.add_argument("--code-lifetime", type=int, default=600, metavar="SECONDS")
    parser.add_argument("--trusted-proxies", default=_env_default("trusted_proxies") or "",
                        metavar="ADDR[,NET...]",
                        help="peers whose X-Forwarded-Host/-For are believed (default none; "
                             "env DIASPORA_IDP_TRUSTED_PROXIES)")
    for name, kind, text in _THROTTLE_OPTIONS:
        default = getattr(IdpSettings, name)
        parser.add_argument("--" + name.replace("_", "-"), type=kind,
                            default=_env_default(name) or default,
                            metavar="N" if kind is int else "SECONDS",
                            help=f"{text} (default {default}; env {ENV_PREFIX}{name.upper()})")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments and serve until SIGTERM/SIGINT."""
    args = build_parser().parse_args(argv)
    from diaspora_notebook.fabric.errors import FabricError
    from diaspora_notebook.fabric.httpserver import ServerLimits, serve
    from diaspora_notebook.fabric.idp.app import create_app

    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = IdpSettings(
            state_dir=args.state_dir.expanduser().resolve(),
            issuer=args.issuer or f"http://{args.host}:{args.port}/",
            access_token_lifetime=args.access_token_lifetime,
            code_lifetime=args.code_lifetime,
            trusted_proxies=tuple(p for p in args.trusted_proxies.split(",") if p.strip()),
            login_max_failures_per_user=args.login_max_failures_per_user,
            login_max_failures_per_source=args.login_max_failures_per_source,
            login_lock_seconds=args.login_lock_seconds,
            login_lock_max_seconds=args.login_lock_max_seconds,
            login_failure_window=args.login_failure_window,
        )
        app = create_app(settings)
        limits = ServerLimits.from_environment()
    except FabricError as exc:
        build_parser().exit(2, exc.one_line() + "\n")
    except ValueError as exc:
        build_parser().exit(2, f"{exc}\n")
    # read timeouts and connection caps: a slow or greedy client must not stall the IdP
    serve(app, host=args.host, port=args.port, limits=limits, access_log=False,
          log_level=args.log_level, proxy_headers=False)


if __name__ == "__main__":
    main()
