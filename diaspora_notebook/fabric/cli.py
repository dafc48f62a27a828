"""``diaspora-fabric``: install, run and inspect the local Diaspora fabric.

Each subcommand parses its arguments and calls the typed API (``Fabric``, the installer, the
identity provider's admin functions); errors print one line with the fix, exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from diaspora_notebook.fabric.accounts_cli import add_parsers as add_account_parsers
from diaspora_notebook.fabric.broker.install import DEFAULT_KAFKA_VERSION, install
from diaspora_notebook.fabric.errors import FabricError
from diaspora_notebook.fabric.fabric import Fabric

HOME_HELP = "fabric home (default: $DIASPORA_FABRIC_HOME or ~/.diaspora/fabric)"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _fabric(args: argparse.Namespace) -> Fabric:
    return Fabric.at(args.home)


def cmd_install(args: argparse.Namespace) -> int:
    install(args.kafka_version, Path(args.cache) if args.cache else None, progress=_say)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    fabric = _fabric(args)
    started = time.monotonic()
    description = fabric.up(brokers=args.brokers, port=args.port,
                            kafka_version=args.kafka_version, progress=_say,
                            service_port=args.service_port)
    _say(f"fabric up in {time.monotonic() - started:.1f} s; home {fabric.home.root}")
    print(json.dumps(description, indent=2))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stopped = _fabric(args).down(timeout=args.timeout)
    _say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = _fabric(args).status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"fabric home: {status['home']}")
    for row in status["processes"]:
        ports = ", ".join(f"{k} {v}" for k, v in row["ports"].items())
        extra = f"  {row['url']}" if row.get("url") else ""
        if "data_bytes" in row:
            extra += f"  data {row['data_bytes'] / 1e6:.1f} MB"
        print(f"  {row['name']:<10} {row['state']:<5} pid {row['pid'] or '-':<8} {ports}{extra}")
    if status["untracked_pids"]:
        print(f"  untracked fabric processes: {status['untracked_pids']} (`down` stops them)")
    return 0 if all(r["state"] == "up" for r in status["processes"]) else 3


def cmd_logs(args: argparse.Namespace) -> int:
    fabric = _fabric(args)
    logs = fabric.log_files()
    if args.name:
        logs = {k: v for k, v in logs.items() if k == args.name}
        if not logs:
            raise FabricError(f"no process named {args.name!r}",
                                hint=f"choose one of: {', '.join(fabric.log_files())}")
    for name, path in logs.items():
        print(f"==> {name}: {path} <==")
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()[-args.lines:]
            print("\n".join(lines))
    if args.follow:
        _follow(logs)
    return 0


def _follow(logs: dict[str, Path]) -> None:
    positions = {name: (p.stat().st_size if p.exists() else 0) for name, p in logs.items()}
    try:
        while True:
            for name, path in logs.items():
                if not path.exists():
                    continue
                size = path.stat().st_size
                if size < positions[name]:
                    positions[name] = 0
                if size > positions[name]:
                    with path.open("rb") as fh:
                        fh.seek(positions[name])
                        chunk = fh.read().decode(errors="replace")
                    positions[name] = size
                    for line in chunk.splitlines():
                        print(f"{name}| {line}", flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        return


def cmd_demo(args: argparse.Namespace) -> int:
    from diaspora_notebook.fabric.demo import login_info, run_tutorials

    fabric = _fabric(args)
    started = time.monotonic()
    fabric.up(progress=_say)
    _say(f"the fabric is running (home {fabric.home.root})")
    out = Path(args.out).resolve()
    written = run_tutorials(Path(args.notebooks), out, fabric=fabric, only=args.only,
                            progress=_say)
    _say(f"\n{len(written)} tutorials executed in {time.monotonic() - started:.0f} s.")
    _say(f"Executed notebooks and HTML: {out}")
    _say("Open them live in JupyterLab with `make lab` (the fabric keeps running; "
         "`diaspora-fabric down` stops it).")
    _say(login_info(fabric))
    return 0


def cmd_demo_env(args: argparse.Namespace) -> int:
    import shlex

    from diaspora_notebook.fabric.demo import kernel_environment

    fabric = _fabric(args)
    user_dir = Path(args.user_dir).expanduser() if args.user_dir else Path.home() / ".diaspora"
    for key, value in kernel_environment(fabric, user_dir).items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_sdk_env(args: argparse.Namespace) -> int:
    import shlex

    from diaspora_notebook.fabric.sdk_env import sdk_environment

    env = sdk_environment(_fabric(args), new_client=args.new_client,
                          user_dir=Path(args.user_dir).expanduser() if args.user_dir else None,
                          warn=_say)
    print("unset DIASPORA_SCOPE GLOBUS_SDK_ENVIRONMENT")
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diaspora-fabric",
        description="Run the Diaspora Event Fabric on this machine: Apache Kafka (KRaft, "
        "SASL_SSL, SCRAM-SHA-512, ACLs), a Globus Auth-compatible identity provider and the "
        "Diaspora web service.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str,
            home: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        if home:
            p.add_argument("--home", help=HOME_HELP)
        p.set_defaults(func=func)
        return p

    p = add("install", cmd_install, "fetch the Apache Kafka jars from Maven Central",
            home=False)
    p.add_argument("--kafka-version", default=DEFAULT_KAFKA_VERSION)
    p.add_argument("--cache", help="jar cache (default: $DIASPORA_KAFKA_CACHE or "
                   "~/.diaspora/kafka)")

    p = add("up", cmd_up, "start the fabric (creating it the first time)")
    p.add_argument("--brokers", type=int, choices=(1, 3), default=None,
                   help="Kafka nodes at creation (default 1; fixed afterwards)")
    p.add_argument("--port", type=int, default=None,
                   help="first of a block of consecutive ports (default: free ports)")
    p.add_argument("--service-port", type=int, default=None,
                   help="the web service's port from now on (8000 for diaspora-event-sdk's "
                   "local environment; default: chosen at creation)")
    p.add_argument("--kafka-version", default=DEFAULT_KAFKA_VERSION)

    p = add("down", cmd_down, "stop every fabric process")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait after SIGTERM before SIGKILL")

    p = add("status", cmd_status, "show each fabric process (exit 3 if any is down)")
    p.add_argument("--json", action="store_true")

    p = add("logs", cmd_logs, "print the fabric's logs")
    p.add_argument("name", nargs="?", help="one process (e.g. broker-1, idp, service)")
    p.add_argument("-n", "--lines", type=int, default=40)
    p.add_argument("-f", "--follow", action="store_true")

    p = add("demo", cmd_demo, "start the fabric and execute the tutorial notebooks headless")
    p.add_argument("--notebooks", default="notebooks", help="directory of NN-*.ipynb")
    p.add_argument("--out", default="build/notebooks",
                   help="where executed notebooks and their HTML go")
    p.add_argument("--only", action="append", help="run only notebooks starting with this")

    p = add("demo-env", cmd_demo_env,
            "print `export` lines that log notebooks in as the demo account (for Binder)")
    p.add_argument("--user-dir", help="DIASPORA_USER_DIR for the kernels (default ~/.diaspora)")

    p = add("sdk-env", cmd_sdk_env,
            "print `export` lines that point diaspora-event-sdk 0.5.1 at this fabric")
    p.add_argument("--new-client", action="store_true",
                   help="create a fresh confidential client (a new identity and namespace)")
    p.add_argument("--user-dir", help="DIASPORA_USER_DIR for the SDK's token storage "
                   "(default: the SDK's ~/.diaspora)")

    add_account_parsers(sub, HOME_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except FabricError as err:
        print(err.one_line(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `diaspora-fabric status | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
