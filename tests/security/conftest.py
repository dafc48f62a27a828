"""The security audit runs LAST in the session and sees every secret the session handed out.

* ``pytest_collection_modifyitems`` moves this directory's tests after every other test, and
  ``test_secrets_audit.py`` after the other attacks here, so the log scan and the file-mode walk
  cover what all the other suites produced.
* When the audit is part of the session, every test also uses the ``record_issued_secrets``
  fixture (:mod:`diaspora_notebook.fabric.testing.secrets`, session scope): from the first test on,
  passwords given to the identity provider's admin API, confidential-client secrets and every
  secret field of a JSON response received through ``requests`` are remembered in
  ``ISSUED_SECRETS``, the registry ``secrets_in_logs`` reads. The wrappers only record and are
  removed when the session ends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
RECORDER = "record_issued_secrets"
AUDIT_MODULE = "test_secrets_audit.py"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Run the security audit after every other test, with the recorder on from the first."""
    audit = [i for i in items if HERE in Path(str(i.path)).resolve().parents]
    if not audit:
        return
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is not None and RECORDER not in names:
            names.insert(0, RECORDER)  # requested explicitly, as a usefixtures mark would
    # the attacks of this directory first, then the audit of what every test left behind
    last = [i for i in audit if Path(str(i.path)).name == AUDIT_MODULE]
    audit = [i for i in audit if i not in last] + last
    others = [i for i in items if i not in audit]
    items[:] = others + audit
