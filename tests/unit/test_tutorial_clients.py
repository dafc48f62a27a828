"""Every Kafka client a tutorial makes by hand is closed in it (issue 24, defect 8).

A confluent ``Producer`` left alive in 03-your-own-client kept reconnecting, and logged a SASL
error every second once 05-operations rotated the key. Clients made in a ``with`` block, or in
a function that closes them, are fine; a client bound to a name at the top of a cell must be
closed (``name.close()``) or deleted (``del name``) later in the notebook.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CLIENTS = ("Producer", "Consumer", "AdminClient", "KafkaProducer", "KafkaConsumer",
           "KafkaAdmin", "AIOKafkaConsumer", "AIOKafkaProducer")
MADE = re.compile(r"^(\w+)\s*=\s*(?:\w+\.)*(" + "|".join(CLIENTS) + r")\(", re.M)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")),
                         ids=lambda p: p.name)
def test_clients_made_at_the_top_of_a_cell_are_closed(path):
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    for index, source in enumerate(code):
        for name, kind in MADE.findall(source):
            rest = source[source.index(f"{name} =") :] + "\n".join(code[index + 1 :])
            closed = re.search(rf"\b{name}\.close\(|^del {name}\b|^\s*del {name}\b", rest,
                               re.M)
            assert closed, f"{path.name}: the {kind} `{name}` is never closed"
