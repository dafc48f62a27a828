pytest_plugins = ["diaspora_notebook.fabric.testing.plugin", "diaspora_notebook.testing.plugin"]
