"""The per-user and total partition budget (issue 27 item 1): the service allots each
registration a share, the brokers' policy enforces it (tests/security/test_round3_partitions.py
against the real brokers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diaspora_notebook.fabric.service.errors import ServiceError
from diaspora_notebook.fabric.service.memory import InMemoryKafkaAdmin
from diaspora_notebook.fabric.service.ownership import TopicAccessManager
from diaspora_notebook.fabric.service.partition_budget import PartitionBudget

ALICE, BOB = "a" * 8, "b" * 8


def _manager(tmp_path: Path, *, per_user: int = 40, total: int | None = None
             ) -> tuple[TopicAccessManager, InMemoryKafkaAdmin, PartitionBudget]:
    admin = InMemoryKafkaAdmin()
    budget = PartitionBudget(tmp_path / "budget.json", per_topic=32,
                             per_user=lambda _user: per_user, total=total,
                             partition_counts=admin.partition_counts)
    manager = TopicAccessManager(admin, propagation_seconds=0, max_partitions=32, budget=budget)
    return manager, admin, budget


def _allotted(budget: PartitionBudget) -> dict[str, int]:
    assert budget.path is not None
    data = json.loads(budget.path.read_text())
    assert data["version"] == 1
    return {t: e["max_partitions"] for t, e in data["topics"].items()}


def _create(admin: InMemoryKafkaAdmin, topic: str, partitions: int) -> None:
    admin.topics[topic] = []
    admin.partitions[topic] = partitions


def test_registrations_share_the_users_budget_and_unused_shares_return(tmp_path):
    manager, admin, budget = _manager(tmp_path, per_user=40)
    manager.register("a1", ALICE)
    assert _allotted(budget) == {"a1": 32}
    manager.register("a2", ALICE)  # a1 not created yet: its 32 stay reserved
    assert _allotted(budget)["a2"] == 8
    with pytest.raises(ServiceError) as refused:
        manager.register("a3", ALICE)
    assert refused.value.code == "partition_budget_reached"
    assert "max_partitions_per_user = 40" in refused.value.message
    assert "--max-partitions" in refused.value.hint
    _create(admin, "a1", 2)  # created small: the rest of its reservation comes back
    manager.register("a3", ALICE)
    assert _allotted(budget) == {"a1": 2, "a2": 8, "a3": 30}
    # another user has a budget of its own
    manager.register("b1", BOB)
    assert _allotted(budget)["b1"] == 32
    assert (tmp_path / "budget.json").stat().st_mode & 0o077 == 0


def test_unregistering_releases_and_growth_is_counted(tmp_path):
    manager, admin, budget = _manager(tmp_path, per_user=40)
    manager.register("a1", ALICE)
    _create(admin, "a1", 4)
    manager.register("a2", ALICE)
    _create(admin, "a2", 30)
    # a1 may grow to 10 (4 + 30 + 6 = 40), not to 11
    with pytest.raises(ServiceError) as refused:
        manager.add_partitions("a1", ALICE, 11)
    assert refused.value.code == "partition_budget_reached"
    assert manager.add_partitions("a1", ALICE, 10) == ("success", 10)
    assert _allotted(budget)["a1"] == 10
    manager.unregister("a2", ALICE)
    assert "a2" not in _allotted(budget)
    assert manager.add_partitions("a1", ALICE, 32) == ("success", 32)


def test_the_fabrics_total_is_shared_by_everyone(tmp_path):
    manager, admin, budget = _manager(tmp_path, per_user=100, total=50)
    manager.register("a1", ALICE)
    _create(admin, "a1", 32)
    manager.register("b1", BOB)
    assert _allotted(budget) == {"a1": 32, "b1": 18}
    _create(admin, "b1", 18)
    with pytest.raises(ServiceError) as refused:
        manager.register("b2", BOB)
    assert refused.value.code == "fabric_partitions_full" and refused.value.status_code == 503
    assert "DIASPORA_FABRIC_BROKER_OPEN_FILES" in refused.value.hint


def test_without_a_budget_file_registration_is_unchanged(tmp_path):
    admin = InMemoryKafkaAdmin()
    manager = TopicAccessManager(admin, propagation_seconds=0, max_partitions=32,
                                 budget=PartitionBudget(None, per_topic=32,
                                                        per_user=lambda _u: 0, total=0,
                                                        partition_counts=admin.partition_counts))
    assert manager.register("x", ALICE) == "success"


def test_the_total_counts_real_partitions_not_pending_allotments(tmp_path):
    # the fabric's total guards the brokers' open files: created topics count their actual
    # partitions (whoever owns them, without waiting for their owner to register again) and a
    # registration not created yet counts one, so registrations never created cannot fill it
    manager, admin, budget = _manager(tmp_path, per_user=1000, total=70)
    manager.register("a1", ALICE)
    manager.register("a2", ALICE)
    _create(admin, "a1", 1)
    _create(admin, "a2", 2)
    for name in ("b1", "b2", "b3"):  # pending: one each towards the total
        manager.register(name, BOB)
    assert _allotted(budget) == {"a1": 1, "a2": 2, "b1": 32, "b2": 32, "b3": 32}
    _create(admin, "b1", 32)
    _create(admin, "b2", 32)
    manager.register("b4", BOB)  # 1 + 2 + 32 + 32 + 1 (b3, pending) held
    assert _allotted(budget)["b4"] == 70 - 68
    _create(admin, "b4", 2)
    with pytest.raises(ServiceError) as full:
        manager.register("b5", BOB)
    assert full.value.code == "fabric_partitions_full"
