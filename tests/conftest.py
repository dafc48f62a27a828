pytest_plugins = ["diaspora_notebook.testing.plugin"]
