pytest_plugins = ["diaspora_notebook.testing.plugin", "diaspora_notebook.testing.identities"]
