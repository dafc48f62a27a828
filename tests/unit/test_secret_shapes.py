"""The tutorial leak check: what counts as shaped like a local fabric's key or token."""

from __future__ import annotations

import json

from diaspora_notebook.fabric.demo import secret_shaped

KEY = "aB3" * 16  # 48 letters and digits, like a key of the local fabric


def test_a_key_in_an_output_is_caught():
    assert secret_shaped(json.dumps({"text/plain": f"password: {KEY}"})) == [KEY]


def test_widget_front_end_code_and_images_are_not_keys():
    """anywidget code (the live grid's 6 MB of minified JavaScript) and base64 images carry
    long runs of letters and digits that are no secret."""
    state = {"state": {"_esm": f'const t="{KEY}";\nexport default {{}}', "_css": f".x{KEY}{{}}"},
             "image/png": KEY + KEY}
    assert secret_shaped(json.dumps(state)) == []
    html = json.dumps(state).replace("/", "\\/")  # as nbconvert embeds the state in HTML
    assert secret_shaped(html) == []


def test_a_key_next_to_front_end_code_is_still_caught():
    state = {"_esm": 'export default {render() {}}', "value": KEY}
    assert secret_shaped(json.dumps(state)) == [KEY]
