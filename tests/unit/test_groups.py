"""Consumer-group names of a topic (``diaspora_notebook.naming``, as the toolkit raises them)."""

from __future__ import annotations

import pytest

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.explore.groups import GROUP_SEPARATOR, group_name, group_prefix, is_group_of


def test_group_names_are_topic_slash_name():
    assert GROUP_SEPARATOR == "/"
    assert group_prefix("exp-1") == "exp-1/"
    assert group_name("exp-1", "readers") == "exp-1/readers"
    assert is_group_of("exp-1", "exp-1/readers")


@pytest.mark.parametrize("group", ["X", "X/", "Xbar/readers", "X-readers", "X.readers",
                                   "X_readers", "Xbar", "x/readers"])
def test_no_other_topics_group_belongs_to_a_prefix_topic(group):
    assert not is_group_of("X", group)


@pytest.mark.parametrize("name", ["", "has space", "a/b", "é", "x" * 201])
def test_bad_group_names_say_what_is_allowed(name):
    with pytest.raises(DiasporaUsageError) as err:
        group_name("t", name)
    assert "a-z A-Z 0-9" in err.value.hint


@pytest.mark.parametrize("topic", ["", "a/b"])
def test_a_group_needs_a_real_topic_name(topic):
    with pytest.raises(DiasporaUsageError):
        group_prefix(topic)
