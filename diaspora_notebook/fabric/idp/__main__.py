"""``python -m diaspora_notebook.fabric.idp --state-dir DIR --host H --port P --issuer URL``.

Runs uvicorn with its access log OFF: access log lines carry query strings, and the
auth-code page's query string holds a live authorization code.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path


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
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments and serve until SIGTERM/SIGINT."""
    args = build_parser().parse_args(argv)
    import uvicorn

    from diaspora_notebook.errors import DiasporaError
    from diaspora_notebook.fabric.idp.app import create_app
    from diaspora_notebook.fabric.idp.settings import IdpSettings

    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = IdpSettings(
            state_dir=args.state_dir.expanduser().resolve(),
            issuer=args.issuer or f"http://{args.host}:{args.port}/",
            access_token_lifetime=args.access_token_lifetime,
            code_lifetime=args.code_lifetime,
        )
        app = create_app(settings)
    except DiasporaError as exc:
        build_parser().exit(2, exc.one_line() + "\n")
    uvicorn.run(app, host=args.host, port=args.port, access_log=False,
                log_level=args.log_level, proxy_headers=False, server_header=False)


if __name__ == "__main__":
    main()
