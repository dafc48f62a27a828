"""The per-user topic cap (issue 27 item 5) holds for v3 topics too: a namespace's topics and
the v1 topics the user owns count together against ``max_topics_per_user``."""

from __future__ import annotations

from diaspora_notebook.fabric.service import acls
from diaspora_notebook.fabric.service.memory import InMemoryKafkaAdmin
from diaspora_notebook.fabric.service.v3.namespaces import NamespaceManager
from diaspora_notebook.naming import namespace_of

SUB = "0f8e6c2a-4b1d-4c3e-9a7b-123456789abc"


class NamespaceKafka(InMemoryKafkaAdmin):
    """The in-memory backend plus the three calls v3 needs."""

    def resource_acls(self, resource_type: str, name: str, pattern: str) -> list[acls.AclEntry]:
        return sorted(e for e in self.acls if (e.resource_type, e.resource_name,
                                               e.pattern_type) == (resource_type, name, pattern))

    def broker_count(self) -> int:
        return 1

    def create_topic(self, topic: str, partitions: int, replication: int) -> bool:
        if topic in self.topics:
            return False
        self.topics[topic] = []
        return True


def test_v3_topics_and_owned_v1_topics_count_against_one_cap() -> None:
    admin = NamespaceKafka()
    manager = NamespaceManager(admin, None, endpoint=lambda: "", max_topics=lambda _sub: 3)
    namespace = namespace_of(SUB)
    assert manager.create_user(SUB)["status"] == "success"
    admin.acls |= set(acls.owner_entries("v1-topic", SUB))  # one v1 topic owned
    assert manager.create_topic(SUB, namespace, "topic-a")["status"] == "success"
    assert manager.create_topic(SUB, namespace, "topic-b")["status"] == "success"
    refused = manager.create_topic(SUB, namespace, "topic-c")
    assert refused["status"] == "failure"
    assert "max_topics_per_user = 3" in refused["message"]
    assert "diaspora-fabric user limits" in refused["message"]
    # creating one that exists is no new topic; deleting one makes room again
    assert manager.create_topic(SUB, namespace, "topic-a")["status"] == "success"
    assert manager.delete_topic(SUB, namespace, "topic-b")["status"] == "success"
    assert manager.create_topic(SUB, namespace, "topic-c")["status"] == "success"
