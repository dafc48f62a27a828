"""HTML a person wants to look at: the client, topic lists, keys, action results.

Every piece of text that came from a server or a user goes through :func:`html.escape`.
Passwords are masked unless the caller explicitly reveals them; the masked form never carries
the secret (not even its length), so a saved notebook holds nothing to steal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diaspora_notebook.client import Client
    from diaspora_notebook.environments import Environment

MASK = "\u2022" * 8
_TABLE = ('<table class="diaspora" style="border-collapse:collapse;text-align:left;'
          'font-size:0.95em">')
_TH = '<th style="text-align:left;padding:2px 10px 2px 0;font-weight:600">'
_TD = '<td style="text-align:left;padding:2px 10px 2px 0">'
_COLORS = {"success": "#1a7f37", "no-op": "#6e7781", "error": "#cf222e"}


def esc(value: Any) -> str:
    """Escaped text of any value (None as an empty string)."""
    return "" if value is None else escape(str(value))


def mask(secret: str | None) -> str:
    """A fixed-width mask: it says there is a secret, nothing about it."""
    return MASK if secret else ""


def kv_table(rows: Iterable[tuple[str, Any]], *, raw: Sequence[str] = ()) -> str:
    """A two-column table; values are escaped unless their label is in ``raw``."""
    body = "".join(f"<tr>{_TH}{esc(k)}</th>{_TD}{v if k in raw else esc(v)}</td></tr>"
                   for k, v in rows)
    return f"{_TABLE}{body}</table>"


def grid(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A table with a header row; every cell escaped."""
    head = "".join(f"{_TH}{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"{_TD}{esc(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"{_TABLE}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def badge(status: str) -> str:
    color = _COLORS.get(status, "#0969da")
    return (f'<span style="background:{color};color:white;border-radius:8px;'
            f'padding:1px 8px;font-size:0.85em">{esc(status)}</span>')


def status_line(text: str, *, kind: str = "info") -> str:
    """One line of feedback (kind: info, success, error, busy)."""
    colors = {"info": "#57606a", "success": "#1a7f37", "error": "#cf222e", "busy": "#0969da"}
    return f'<span style="color:{colors.get(kind, "#57606a")}">{esc(text)}</span>'


def code_block(text: str) -> str:
    return ('<pre style="background:#f6f8fa;padding:6px 8px;border-radius:4px;'
            f'white-space:pre-wrap">{esc(text)}</pre>')


# --- the client ----------------------------------------------------------------------------


def client_html(client: Client, identity: Mapping[str, Any] | None = None) -> str:
    """A card for a :class:`~diaspora_notebook.client.Client` (no secrets in it)."""
    env = client.environment
    if identity:
        who = f"{identity.get('username') or identity.get('name') or '?'} ({identity['id']})"
    else:
        known = _identity_if_known(client)
        who = known or "not logged in"
    rows = [("Environment", env.name), ("Identity", who), ("Auth", env.auth_url),
            ("Web service", env.service_url),
            ("Kafka", ", ".join(env.bootstrap_servers)),
            ("Security", f"{env.security_protocol} / {env.sasl_mechanism}"),
            ("CA", str(env.ca_file) if env.ca_file else "system trust store")]
    return f"<div><b>Diaspora client</b>{kv_table(rows)}</div>"


def _identity_if_known(client: Client) -> str | None:
    try:
        return client.logged_in_identity()
    except Exception:  # a repr must never fail
        return None


# --- results ---------------------------------------------------------------------------------


class Result(dict[str, Any]):
    """A service answer (``{"status", "message", ...}``) that renders as a badge and a line."""

    def _repr_html_(self) -> str:
        status = str(self.get("status", ""))
        topic = f" <code>{esc(self['topic'])}</code>" if self.get("topic") else ""
        return f"<div>{badge(status)}{topic} {esc(self.get('message', ''))}</div>"

    def __repr__(self) -> str:
        topic = f" {self['topic']}" if self.get("topic") else ""
        return f"[{self.get('status', '')}]{topic}: {self.get('message', '')}"


class TopicList(list[Any]):
    """Topic rows (``TopicInfo.as_row()`` dicts or plain names) as a table."""

    def _repr_html_(self) -> str:
        return topics_html(self)


def topics_html(rows: Sequence[Any]) -> str:
    if not rows:
        return "<div><i>No topics yet.</i> Register one with <code>%diaspora_register NAME" \
               "</code>.</div>"
    if isinstance(rows[0], str):
        return grid(["topic"], [[t] for t in rows])
    table = []
    for row in rows:
        if not row.get("on_broker", True):
            table.append([row["topic"], "not created", "", ""])
        else:
            ends = ", ".join(str(o) for o in row.get("end_offsets") or [])
            table.append([row["topic"], row.get("partitions"), row.get("messages"), ends])
    return grid(["topic", "partitions", "messages", "end offsets"], table)


class KeyView:
    """A Kafka key for display: the password masked unless ``reveal`` is true.

    ``repr``/``str`` follow the same rule, so printing it does not leak the secret either.
    """

    def __init__(self, key: Mapping[str, Any], *, reveal: bool = False) -> None:
        self.username = str(key.get("username", ""))
        self._password = str(key.get("password", ""))
        self.endpoint = key.get("endpoint")
        self.reveal = reveal

    @property
    def password(self) -> str:
        return self._password

    def shown_password(self) -> str:
        return self._password if self.reveal else mask(self._password)

    def _repr_html_(self) -> str:
        rows = [("Username", self.username), ("Password", self.shown_password())]
        if self.endpoint:
            rows.append(("Endpoint", self.endpoint))
        note = ("" if self.reveal else
                "<div style='color:#57606a;font-size:0.85em'>Password hidden; "
                "<code>%diaspora_key --reveal</code> shows it (it is then saved with the "
                "notebook).</div>")
        return f"<div><b>Diaspora Kafka key</b>{kv_table(rows)}{note}</div>"

    def __repr__(self) -> str:
        return (f"KeyView(username={self.username!r}, password={self.shown_password()!r}, "
                f"endpoint={self.endpoint!r})")


def connection_rows(env: Environment, key: KeyView) -> list[tuple[str, Any]]:
    """The seed's "Cluster Connection Details" table for one identity."""
    return [("Bootstrap servers", ", ".join(env.bootstrap_servers)),
            ("Security protocol", env.security_protocol),
            ("SASL mechanism", env.sasl_mechanism),
            ("Username", key.username), ("Password", key.shown_password()),
            ("CA file", str(env.ca_file) if env.ca_file else "system trust store")]


def snippet(library: str, env: Environment, key: KeyView) -> str:
    """Copy-paste code for ``library``; the password appears only when ``key.reveal``."""
    if not key.reveal:
        return ("from diaspora_notebook import Client\n"
                f"conf = Client().connection_config({library!r})  # your key, never in the "
                "notebook\n" + _client_line(library, "**conf" if library != "confluent-kafka"
                                            else "conf"))
    conf: dict[str, Any]
    if library == "confluent-kafka":
        conf = {"bootstrap.servers": ",".join(env.bootstrap_servers),
                "security.protocol": env.security_protocol,
                "sasl.mechanisms": env.sasl_mechanism,
                "sasl.username": key.username, "sasl.password": key.password}
        if env.ca_file:
            conf["ssl.ca.location"] = str(env.ca_file)
        return f"conf = {_pretty(conf)}\n" + _client_line(library, "conf")
    conf = {"bootstrap_servers": list(env.bootstrap_servers),
            "security_protocol": env.security_protocol, "sasl_mechanism": env.sasl_mechanism,
            "sasl_plain_username": key.username, "sasl_plain_password": key.password}
    if env.ca_file:
        conf["ssl_cafile"] = str(env.ca_file)
    return f"conf = {_pretty(conf)}\n" + _client_line(library, "**conf")


def _client_line(library: str, conf: str) -> str:
    if library == "confluent-kafka":
        return f"from confluent_kafka import Producer\nproducer = Producer({conf})"
    if library == "aiokafka":
        return f"from aiokafka import AIOKafkaProducer\nproducer = AIOKafkaProducer({conf})"
    return f"from kafka import KafkaProducer\nproducer = KafkaProducer({conf})"


def _pretty(conf: Mapping[str, Any]) -> str:
    inner = "".join(f"    {k!r}: {v!r},\n" for k, v in conf.items())
    return "{\n" + inner + "}"


class ConnectionView:
    """Connection details plus a snippet for one library (password masked by default)."""

    def __init__(self, env: Environment, key: KeyView, library: str = "kafka-python") -> None:
        self.env, self.key, self.library = env, key, library

    def _repr_html_(self) -> str:
        return (f"<div><b>Connection details</b>{kv_table(connection_rows(self.env, self.key))}"
                f"<div>{esc(self.library)}:</div>"
                f"{code_block(snippet(self.library, self.env, self.key))}</div>")

    def __repr__(self) -> str:
        rows = "\n".join(f"{k}: {v}" for k, v in connection_rows(self.env, self.key))
        return f"{rows}\n\n{snippet(self.library, self.env, self.key)}"


class IdentityView:
    """Who is logged in, in which environment."""

    def __init__(self, client: Client, details: Mapping[str, Any]) -> None:
        self.client, self.details = client, dict(details)

    def line(self) -> str:
        who = self.details.get("username") or self.details.get("name") or "unknown"
        return (f"Logged in as {who} ({self.details['id']}) in environment "
                f"{self.client.environment.name!r}")

    def _repr_html_(self) -> str:
        return client_html(self.client, self.details)

    def __repr__(self) -> str:
        return self.line()
