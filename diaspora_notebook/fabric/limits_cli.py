"""``diaspora-fabric user limits USER``: show or change one account's limits.

Four are Kafka user quotas, enforced by the brokers on the account's principal (its identity
id): ``producer_byte_rate`` and ``consumer_byte_rate`` (bytes/s), ``request_percentage`` (% of
one broker thread's time) and ``controller_mutation_rate`` (partitions created or deleted per
second). The service sets the config's defaults when it creates an account's first key. The
fifth, ``max_topics``, is the service's cap on the topics one account may own, the sixth,
``max_partitions``, its budget of partitions over all its topics (the brokers enforce each
registration's share); a per-account value lives in the service's ``user-limits.json``.
Changes take effect at once, without a restart; the brokers must answer.
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass
from typing import Any

from diaspora_notebook.fabric.errors import FabricUsageError
from diaspora_notebook.fabric.home import FabricHome
from diaspora_notebook.fabric.service import acls
from diaspora_notebook.fabric.service.limits import (
    QUOTA_KEYS,
    PartitionCap,
    TopicCap,
    UserLimitsFile,
    default_quotas,
)


@dataclass(frozen=True)
class UserLimits:
    """One account's limits now: Kafka quotas (``{}`` before its first key) and topic cap."""

    user: str
    quotas: dict[str, float]
    defaults: dict[str, float]
    max_topics: int
    max_topics_default: int
    owned_topics: int
    max_partitions: int = 0
    max_partitions_default: int = 0

    def lines(self) -> list[str]:
        out = []
        for key in QUOTA_KEYS:
            value = self.quotas.get(key)
            shown = _number(value) if value is not None else "not set"
            extra = "" if value == self.defaults[key] else \
                f"  (default {_number(self.defaults[key])})"
            out.append(f"{key:<26} {shown}{extra}")
        extra = "" if self.max_topics == self.max_topics_default else \
            f"  (default {self.max_topics_default})"
        out.append(f"{'max_topics':<26} {self.max_topics}{extra}; owns {self.owned_topics}")
        extra = "" if self.max_partitions == self.max_partitions_default else \
            f"  (default {self.max_partitions_default})"
        out.append(f"{'max_partitions':<26} {self.max_partitions}{extra} (over all its topics)")
        if not self.quotas:
            out.append("(no Kafka quotas yet: the account gets the defaults with its first key)")
        return out


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def identity_of(home: FabricHome, username: str) -> str:
    """An account's identity id (its Kafka principal name), from a username or the id itself."""
    from diaspora_notebook.fabric.idp import admin

    try:
        return admin.user_id(str(home.idp_dir), username)
    except FabricUsageError:
        try:
            return str(uuid.UUID(username))
        except ValueError:
            raise FabricUsageError(f"unknown user {username!r}",
                                   hint="`diaspora-fabric user list` shows the accounts") from None


def user_limits(home: FabricHome, username: str, *, quotas: dict[str, float] | None = None,
                max_topics: int | None = None, reset: bool = False,
                max_partitions: int | None = None) -> UserLimits:
    """Change (if asked) and return one account's limits.

    :param quotas: Kafka quotas to set; the others keep their value (or get the default)
    :param max_topics: this account's own topic cap
    :param max_partitions: this account's own partition budget (over all its topics)
    :param reset: back to the config's defaults (quotas, topic cap, partitions) first
    """
    from diaspora_notebook.fabric.kafka_cli import kafka_admin

    user = identity_of(home, username)
    with kafka_admin(home) as (gateway, settings):
        defaults = default_quotas(settings)
        overrides = UserLimitsFile(settings.user_limits_file)
        current = gateway.user_quotas(user)
        if reset or quotas:
            wanted = dict(defaults) if reset or not current else dict(current)
            wanted.update(quotas or {})
            gateway.set_user_quotas(user, {k: wanted[k] for k in QUOTA_KEYS})
            current = gateway.user_quotas(user)
        if reset:
            overrides.set_max_topics(user, None)
            overrides.set_max_partitions(user, None)
        if max_topics is not None:
            overrides.set_max_topics(user, max_topics)
        if max_partitions is not None:
            overrides.set_max_partitions(user, max_partitions)
        owned = acls.owned_topics(user, gateway.principal_acls(acls.principal_of(user)))
        cap = TopicCap(settings.max_topics_per_user, overrides)(user)
        partitions = PartitionCap(settings.max_partitions_per_user, overrides)(user)
        return UserLimits(user, current, defaults, cap, settings.max_topics_per_user, len(owned),
                          partitions, settings.max_partitions_per_user)


def _positive(kind: type[Any]) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username", help="the account (or its identity id)")
    parser.add_argument("--producer-byte-rate", type=_positive(int), metavar="BYTES_PER_S")
    parser.add_argument("--consumer-byte-rate", type=_positive(int), metavar="BYTES_PER_S")
    parser.add_argument("--request-percentage", type=_positive(float), metavar="PERCENT",
                        help="%% of one broker thread's time")
    parser.add_argument("--controller-mutation-rate", type=_positive(float),
                        metavar="PER_S", help="partitions created or deleted per second")
    parser.add_argument("--max-topics", type=int, metavar="N",
                        help="topics this account may own (0 = none)")
    parser.add_argument("--max-partitions", type=int, metavar="N",
                        help="partitions all of this account's topics may hold together")
    parser.add_argument("--reset", action="store_true",
                        help="back to the service config's defaults")


def run(args: argparse.Namespace) -> int:
    quotas = {key: float(getattr(args, key)) for key in QUOTA_KEYS
              if getattr(args, key) is not None}
    if args.max_topics is not None and args.max_topics < 0:
        raise FabricUsageError("--max-topics must be 0 or more")
    if args.max_partitions is not None and args.max_partitions < 0:
        raise FabricUsageError("--max-partitions must be 0 or more")
    limits = user_limits(FabricHome.resolve(args.home), args.username, quotas=quotas,
                         max_topics=args.max_topics, reset=args.reset,
                         max_partitions=args.max_partitions)
    print(f"limits of {args.username} ({limits.user}):")
    for line in limits.lines():
        print(f"  {line}")
    return 0
