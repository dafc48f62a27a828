"""``python -m diaspora_notebook.fabric.service --config FILE --host 127.0.0.1 --port P``."""

from __future__ import annotations

import argparse
import logging
import logging.config
import sys
from typing import TYPE_CHECKING

from diaspora_notebook.fabric.errors import FabricError

if TYPE_CHECKING:
    from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminBackend

log = logging.getLogger("diaspora_notebook.fabric.service")

# uvicorn's own access log is off; our request log line has method, path, status, duration.
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain",
                            "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "uvicorn": {"level": "INFO"},
        "uvicorn.access": {"level": "WARNING", "propagate": False},
        "kafka": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}


def migrate(admin: KafkaAdminBackend) -> None:
    """Bring the cluster's ACLs to the current conventions and log what changed.

    A failure is logged, not fatal: the service still serves, and the next start retries.
    """
    from diaspora_notebook.fabric.service.migrations import migrate_group_acls

    try:
        report = migrate_group_acls(admin)
    except FabricError as exc:
        log.warning("could not migrate consumer-group ACLs (will retry at the next start): %s",
                    exc.one_line())
        return
    if report.migrated:
        log.info("migrated %d consumer-group ACLs from PREFIXED '<topic>' to '<topic>/' "
                 "(groups are now named <topic>/<name>) for topics: %s",
                 len(report.migrated), ", ".join(report.topics))
    if report.narrowed:
        log.info("narrowed %d grantees' consumer-group ACLs from '<topic>/' to "
                 "'<topic>/<grantee>/' (a grantee no longer reaches the owner's groups) for "
                 "topics: %s", len(report.narrowed), ", ".join(report.narrowed_topics))
    if report.owner_alter:
        log.info("removed ALTER from the owners of %d topic(s) (partitions are added through "
                 "the service's add_partitions route, within max_partitions_per_topic): %s",
                 len(report.owner_alter_topics), ", ".join(report.owner_alter_topics))
    if report.left_alone:
        log.warning("left %d PREFIXED group ACLs alone: their principals hold no ACL on a topic "
                    "of that name (%s)", len(report.left_alone),
                    ", ".join(sorted({e.resource_name for e in report.left_alone})))


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load settings and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m diaspora_notebook.fabric.service",
                                     description="Run the Diaspora web service.")
    parser.add_argument("--config", help="JSON settings file (DIASPORA_SERVICE_* override it)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    from diaspora_notebook.fabric.httpserver import ServerLimits, serve
    from diaspora_notebook.fabric.service.app import create_app
    from diaspora_notebook.fabric.service.settings import load_settings

    try:
        settings = load_settings(args.config)
        limits = ServerLimits.from_environment()
        logging.config.dictConfig(LOG_CONFIG)
        app = create_app(settings)
    except (FabricError, ValueError) as exc:
        print(exc.one_line() if isinstance(exc, FabricError) else str(exc), file=sys.stderr)
        return 2
    migrate(app.state.admin)
    log.info("serving on http://%s:%d (Kafka %s)", args.host, args.port,
             ",".join(settings.bootstrap_servers))
    # read timeouts and connection caps: a slow or greedy client must not stall the service
    serve(app, host=args.host, port=args.port, limits=limits, access_log=False,
          log_config=LOG_CONFIG)
    return 0


if __name__ == "__main__":
    sys.exit(main())
