"""The v3 API of the hosted Diaspora service (what diaspora-event-sdk 0.5.1 calls), beside v1.

Same accounts, tokens and brokers as v1: a user's namespace ``ns-<12 hex>`` is owned through
PREFIXED ACLs on ``<namespace>.`` for the user's v1 principal ``User:<sub>``
(:mod:`.namespaces`); its IAM keys live in the key store the broker's OAUTHBEARER callback reads
(:mod:`.keystore`); records go in over HTTPS (:mod:`.records`) and come out through the
consumer REST API (:mod:`.consumers`), both with the service's own Kafka identity after the
caller's namespace was checked. Errors have the hosted service's shapes (:mod:`.errors`).
"""
