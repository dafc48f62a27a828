"""``topics.produce``'s answer: a short repr however many documents were written."""

from __future__ import annotations

from diaspora_notebook.topics import Produced


def test_the_repr_of_300_documents_is_one_short_line():
    produced = Produced("t", tuple((i % 3, 10 + i // 3) for i in range(300)))
    text = repr(produced)
    assert text == ("Produced(topic='t', count=300: partition 0: 100 at offsets 10-109; "
                    "partition 1: 100 at offsets 10-109; partition 2: 100 at offsets 10-109)")
    assert len(text) < 200 and "(0, 10)" not in text
    assert produced.per_partition() == {0: (100, 10, 109), 1: (100, 10, 109),
                                        2: (100, 10, 109)}
    assert len(produced.offsets) == 300  # every offset is still there


def test_one_document():
    text = repr(Produced("t", ((2, 7),)))
    assert text == "Produced(topic='t', count=1: partition 2: 1 at offset 7)"
