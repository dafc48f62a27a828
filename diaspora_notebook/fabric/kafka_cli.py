"""The operator's reach into Kafka: ``diaspora-fabric topic ...`` and account deprovisioning.

The CLI talks to the brokers as the service does (the admin SCRAM user, its password read from
the home's 0600 secret file, TLS verified against the fabric CA), using the service's own
config file, so it works against whatever cluster the service is pointed at.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from diaspora_notebook.fabric.errors import FabricError, FabricUsageError
from diaspora_notebook.fabric.home import FabricHome
from diaspora_notebook.fabric.service.deprovision import Removal, deprovision
from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminGateway
from diaspora_notebook.fabric.service.ownership import TopicAccessManager
from diaspora_notebook.fabric.service.settings import ServiceSettings, load_settings
from diaspora_notebook.naming import topic_name_problem

_START_HINT = "start the fabric with `diaspora-fabric up` (the brokers must answer)"


def service_settings(home: FabricHome) -> ServiceSettings:
    config = home.service_dir / "config.json"
    if not config.exists():
        raise FabricError(f"no web service config at {config}",
                            hint="run `diaspora-fabric up` once to create the fabric")
    return load_settings(config)


@contextmanager
def kafka_admin(home: FabricHome) -> Iterator[tuple[KafkaAdminGateway, ServiceSettings]]:
    """A super-user gateway to the home's brokers, closed on exit."""
    settings = service_settings(home)
    gateway = KafkaAdminGateway(settings)
    try:
        yield gateway, settings
    finally:
        gateway.close()


def remove_account(home: FabricHome, principal: str, remove_login: Callable[[], None]) -> Removal:
    """Check Kafka answers, revoke the login (``remove_login()``), then sweep Kafka.

    The service caches a token's introspection for up to ``introspect_cache_seconds``, so a
    request made with a just-revoked token can still create a key or register a topic; the
    sweep runs again once that window has passed, and the report covers both sweeps.
    """
    with kafka_admin(home) as (gateway, settings):
        try:
            gateway.principal_acls("User:" + principal)
        except FabricError as exc:
            raise FabricError(f"Kafka did not answer, so nothing was removed: {exc.message}",
                                hint=_START_HINT) from None
        remove_login()
        revoked = time.monotonic()
        from diaspora_notebook.fabric.service.v3.namespaces import remove_v3_account

        remove_v3_account(gateway, settings.iam_key_store, principal)  # v3 first: its ACLs
        report = deprovision(gateway, principal, mechanism=settings.sasl_mechanism,
                             propagation_seconds=settings.key_propagation_seconds)
        settle = revoked + settings.introspect_cache_seconds + 0.5 - time.monotonic()
        if settle > 0:
            time.sleep(settle)
            remove_v3_account(gateway, settings.iam_key_store, principal)
            report.merge(deprovision(gateway, principal, mechanism=settings.sasl_mechanism,
                                     propagation_seconds=settings.key_propagation_seconds))
        return report


def cmd_topic(args: argparse.Namespace) -> int:
    home = FabricHome.resolve(args.home)
    with kafka_admin(home) as (gateway, settings):
        manager = TopicAccessManager(gateway, propagation_seconds=settings.key_propagation_seconds)
        if args.action == "orphans":
            orphans = manager.orphans()
            for name in orphans:
                print(name)
            if not orphans:
                print("no topic without an owner")
            return 0
        problem = topic_name_problem(args.topic)
        if problem:
            raise FabricUsageError(problem, hint="`diaspora-fabric topic orphans` lists them")
        deleted, entries = manager.purge(args.topic)
        if deleted:
            print(f"deleted topic {args.topic} and all its events from the brokers")
        else:
            print(f"topic {args.topic} does not exist on the brokers")
        if entries:
            print(f"removed {len(entries)} leftover ACLs of {args.topic}")
        print(f"the name {args.topic} can be registered again")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser], home_help: str) -> None:
    topic = sub.add_parser("topic", help="operator actions on topics in Kafka")
    topic.set_defaults(func=cmd_topic)
    actions = topic.add_subparsers(dest="action", required=True)
    p = actions.add_parser("purge", help="delete a topic that has no owner (its events too), "
                           "so its name can be registered again")
    p.add_argument("topic")
    p.add_argument("--home", help=home_help)
    p = actions.add_parser("orphans", help="list topics on the brokers that nobody owns")
    p.add_argument("--home", help=home_help)
