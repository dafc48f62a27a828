"""One router per resource: topics, keys, access (sharing), cluster (connection details)."""
