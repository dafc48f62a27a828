"""``%diaspora_*`` magics: parse the line, call :mod:`diaspora_notebook.notebook.commands`, show.

Each magic has IPython ``magic_arguments`` help (``%diaspora_login?``). ``%diaspora`` alone
lists the commands and ``%diaspora <command> ...`` routes to the same functions. A
``DiasporaError`` fails the cell with one line (see :mod:`diaspora_notebook.notebook.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from diaspora_notebook.notebook.commands import explore as explore_cmd
from diaspora_notebook.notebook.commands import key as key_cmd
from diaspora_notebook.notebook.commands import login as login_cmd
from diaspora_notebook.notebook.commands import peek as peek_cmd
from diaspora_notebook.notebook.commands import produce as produce_cmd
from diaspora_notebook.notebook.commands import replay as replay_cmd
from diaspora_notebook.notebook.commands import stream as stream_cmd
from diaspora_notebook.notebook.commands import topics as topics_cmd
from diaspora_notebook.notebook.configurable import Diaspora
from diaspora_notebook.notebook.errors import reporting

COMMANDS = {
    "login": "log in (widget, input() with --no-widget, or headless from DIASPORA_LOGIN_*)",
    "logout": "log out and forget the tokens and the cached key",
    "whoami": "show who is logged in",
    "topics": "topic manager (-o VAR: a DataFrame of your topics)",
    "register": "register a topic to you (--create: also create it on the brokers)",
    "unregister": "unregister a topic (deletes it and its events from the brokers)",
    "key": "your Kafka key, password hidden (--reveal, --rotate)",
    "connection": "connection details and a snippet (--library, -o VAR)",
    "produce": "send JSON documents (or CSV rows) to a topic",
    "replay": "play an export, a DataFrame or a topic back into topics, paced by event time",
    "peek": "the last (or first) messages of a topic as a DataFrame",
    "stream": "a live DataFrame of a topic",
    "explore": "browse a topic: pages, filter, detail, schema, groups, export (-o VAR)",
}


def _var_name(name: str | None) -> str | None:
    if name is not None and not name.isidentifier():
        raise UsageError(f"-o needs a Python variable name, not {name!r}")
    return name


@magics_class
class DiasporaMagics(Magics):
    """The Diaspora magics; their settings are the :class:`Diaspora` configurable."""

    def __init__(self, shell: Any, settings: Diaspora | None = None) -> None:
        super().__init__(shell)
        self.settings = settings or Diaspora(parent=shell)

    # --- helpers -------------------------------------------------------------------------

    @property
    def _ip(self) -> InteractiveShell:
        if self.shell is None:  # only a Magics made without a shell
            raise UsageError("the Diaspora magics need an IPython shell")
        return self.shell

    def _store(self, name: str, what: str) -> Callable[[Any], None]:
        def store(value: Any) -> None:
            self._ip.user_ns[name] = value
            print(f"Stored {what} in {name}")

        return store

    # --- the umbrella -------------------------------------------------------------------

    @line_cell_magic
    @no_var_expand
    def diaspora(self, line: str = "", cell: str | None = None) -> Any:
        """Diaspora commands: ``%diaspora <command> [options]``; ``%diaspora`` lists them."""
        command, _, rest = line.strip().partition(" ")
        if not command or command in ("help", "-h", "--help"):
            width = max(map(len, COMMANDS))
            print("Diaspora commands (also as %diaspora_<command>; add ? for help):")
            for name, text in COMMANDS.items():
                print(f"  {name.ljust(width)}  {text}")
            return None
        if command not in COMMANDS:
            raise UsageError(f"unknown Diaspora command {command!r}; choose one of: "
                             f"{', '.join(COMMANDS)}")
        method = getattr(self, f"diaspora_{command}")
        if command == "produce":
            return method(rest, cell)
        if cell is not None:
            raise UsageError(f"%%diaspora {command} does not take a cell body")
        return method(self._ip.var_expand(rest, depth=1))

    # --- login ----------------------------------------------------------------------------

    @line_magic
    @magic_arguments()
    @argument("--env", metavar="E", help="environment: 'local' or a name from the "
              "environments file (also becomes the notebook's environment)")
    @argument("--no-widget", action="store_true",
              help="print the link and read the code with input() instead of a widget")
    @argument("--force", action="store_true", help="log in again even if logged in")
    @reporting
    def diaspora_login(self, line: str = "") -> Any:
        """Log in to Diaspora.

        Shows who is logged in, or a login widget (open the link, log in, paste the code,
        Submit). With DIASPORA_LOGIN_USERNAME/PASSWORD (or DIASPORA_SDK_CLIENT_ID/SECRET) set,
        logs in headless without any widget.
        """
        args = parse_argstring(self.diaspora_login, line)
        return login_cmd.run_login(self.settings, environment=args.env,
                                   widget=not args.no_widget, force=args.force)

    @line_magic
    @magic_arguments()
    @reporting
    def diaspora_logout(self, line: str = "") -> Any:
        """Log out: revoke the tokens, delete them and the cached Kafka key."""
        parse_argstring(self.diaspora_logout, line)
        return login_cmd.run_logout(self.settings)

    @line_magic
    @magic_arguments()
    @reporting
    def diaspora_whoami(self, line: str = "") -> Any:
        """Show the logged-in identity and the environment (never starts a login)."""
        parse_argstring(self.diaspora_whoami, line)
        return login_cmd.run_whoami(self.settings)

    # --- topics ---------------------------------------------------------------------------

    @line_magic
    @magic_arguments()
    @argument("-o", "--output", metavar="VAR",
              help="store a DataFrame of your topics in VAR instead of showing the manager")
    @reporting
    def diaspora_topics(self, line: str = "") -> Any:
        """Topic manager: your topics with partitions and end offsets; register, create,
        delete, unregister, grant and revoke access."""
        args = parse_argstring(self.diaspora_topics, line)
        var = _var_name(args.output)
        store = self._store(var, "a DataFrame of your topics") if var else None
        return topics_cmd.run_topics(self.settings, store=store)

    @line_magic
    @magic_arguments()
    @argument("topic", help="the topic name")
    @argument("--create", action="store_true", help="also create the topic on the brokers")
    @argument("-p", "--partitions", type=int, default=1, metavar="N",
              help="partitions for --create (default 1)")
    @reporting
    def diaspora_register(self, line: str = "") -> Any:
        """Register TOPIC to you (its Kafka ACLs); --create also creates it on the brokers."""
        args = parse_argstring(self.diaspora_register, line)
        return topics_cmd.run_register(self.settings, topic=args.topic, create=args.create,
                                       partitions=args.partitions)

    @line_magic
    @magic_arguments()
    @argument("topic", help="the topic name")
    @reporting
    def diaspora_unregister(self, line: str = "") -> Any:
        """Unregister TOPIC: the service deletes it and its events from the brokers, then its
        ACLs, so a later owner of the name never reads them."""
        args = parse_argstring(self.diaspora_unregister, line)
        return topics_cmd.run_unregister(self.settings, topic=args.topic)

    # --- keys -----------------------------------------------------------------------------

    @line_magic
    @magic_arguments()
    @argument("--rotate", action="store_true",
              help="create a new password first (the old one stops working)")
    @argument("--reveal", action="store_true",
              help="show the password at once (the widget never saves it with the notebook; "
              "without widgets it is printed and saved)")
    @reporting
    def diaspora_key(self, line: str = "") -> Any:
        """Your Kafka key (SCRAM username and password), the password hidden by default."""
        args = parse_argstring(self.diaspora_key, line)
        return key_cmd.run_key(self.settings, rotate=args.rotate, reveal=args.reveal)

    @line_magic
    @magic_arguments()
    @argument("--library", "-l", default="kafka-python", metavar="L",
              help="kafka-python (default), confluent-kafka or aiokafka")
    @argument("--reveal", action="store_true", help="put the password in the snippet")
    @argument("-o", "--output", metavar="VAR",
              help="store the library's settings (with the password) in VAR, not shown")
    @reporting
    def diaspora_connection(self, line: str = "") -> Any:
        """Connection details for your Kafka client, with a copy-paste snippet."""
        args = parse_argstring(self.diaspora_connection, line)
        var = _var_name(args.output)
        store = self._store(var, f"{args.library} settings") if var else None
        return key_cmd.run_connection(self.settings, library=args.library, reveal=args.reveal,
                                      store=store)

    # --- messages -------------------------------------------------------------------------

    @line_cell_magic
    @no_var_expand
    @magic_arguments()
    @argument("topic", help="the topic to write to")
    @argument("-k", "--key", help="message key (text), the same for every message")
    @argument("--key-field", metavar="F", help="each row's key is its field (column) F")
    @argument("--timestamp-field", metavar="F",
              help="each row's event time is its field (column) F (ISO text or ms)")
    @argument("--format", dest="fmt", default="auto", choices=produce_cmd.FORMATS,
              help="cell body: JSON Lines or CSV with a header (default: told by its first "
              "line)")
    @argument("--timeout", type=float, help="seconds to wait for the broker")
    @reporting
    def diaspora_produce(self, line: str = "", cell: str | None = None) -> Any:
        """Send JSON to TOPIC: ``%diaspora_produce TOPIC {"x": 1}``, or ``%%diaspora_produce
        TOPIC`` with one JSON document per line, or CSV with a header line. Reports the count
        and the offsets."""
        if cell is None:
            tokens, text = produce_cmd.split_line(line)
        else:
            tokens, text = line.split(), cell
        # expand {var} / $var in the options and the topic only: the JSON stays verbatim
        expanded = self.shell.var_expand(" ".join(tokens)) if self.shell else " ".join(tokens)
        args = parse_argstring(self.diaspora_produce, expanded)
        return produce_cmd.run_produce(self.settings, topic=args.topic, text=text,
                                       key=args.key, timeout=args.timeout,
                                       key_field=args.key_field,
                                       timestamp_field=args.timestamp_field, fmt=args.fmt)

    @line_magic
    @magic_arguments()
    @argument("source", help="an export file (.parquet, .csv, .jsonl), a variable holding a "
              "DataFrame or a read() result, or a topic")
    @argument("topics", nargs="+", metavar="TOPIC", help="topic(s) to play into")
    @argument("--speed", default="1", metavar="X",
              help="1 as recorded (default), 10 ten times faster, max as fast as possible")
    @argument("--loop", action="store_true", help="start over at the end, until stopped")
    @argument("--keep-timestamps", action="store_true",
              help="give each event its original time (default: the time it is sent)")
    @argument("--timestamp-field", metavar="F", help="the column of event times (default "
              "timestamp)")
    @argument("--start", metavar="S", help="the earliest event time (for a topic: where to "
              "start reading)")
    @argument("--stop", metavar="S", help="the event time to stop before")
    @argument("-o", "--output", metavar="VAR", help="also store the replay handle in VAR")
    @reporting
    def diaspora_replay(self, line: str = "") -> Any:
        """Play recorded events back into TOPIC(s), paced by their event times, in the
        background; shows a progress bar with Pause and Stop."""
        args = parse_argstring(self.diaspora_replay, line)
        var = _var_name(args.output)
        source = self._ip.user_ns.get(args.source, args.source) \
            if args.source.isidentifier() else args.source
        return replay_cmd.run_replay(
            self.settings, source=source, topics=args.topics, speed=args.speed,
            loop=args.loop, keep_timestamps=args.keep_timestamps,
            timestamp_field=args.timestamp_field, start=args.start, stop=args.stop,
            store=self._store(var, "the replay") if var else None)

    @line_magic
    @magic_arguments()
    @argument("topic", help="the topic to read")
    @argument("-n", type=int, metavar="N", help="how many messages (default 10)")
    @argument("--from-beginning", action="store_true",
              help="the first N messages instead of the last N")
    @argument("--timeout", type=float, help="seconds to wait for messages")
    @argument("-o", "--output", metavar="VAR", help="store the DataFrame in VAR, not shown")
    @reporting
    def diaspora_peek(self, line: str = "") -> Any:
        """The last N messages of TOPIC as a DataFrame (nothing is committed)."""
        args = parse_argstring(self.diaspora_peek, line)
        var = _var_name(args.output)
        frame = peek_cmd.run_peek(self.settings, topic=args.topic, n=args.n,
                                  from_beginning=args.from_beginning, timeout=args.timeout)
        if var:
            self._store(var, f"a DataFrame of {len(frame)} messages")(frame)
            return None
        return frame

    @line_magic
    @magic_arguments()
    @argument("topic", help="the topic to explore")
    @argument("--page-size", type=int, default=50, metavar="N", help="rows per page")
    @argument("-o", "--output", metavar="VAR", help="where 'to DataFrame' stores the page")
    @reporting
    def diaspora_explore(self, line: str = "") -> Any:
        """Explore TOPIC: pages from newest/oldest/offset/time, filter, fields, live tail,
        message detail, schema, consumer groups and lag, export (nothing is committed)."""
        args = parse_argstring(self.diaspora_explore, line)
        var = _var_name(args.output) or "explored"
        return explore_cmd.run_explore(self.settings, topic=args.topic, page_size=args.page_size,
                                       store=self._store(var, "the page as a DataFrame"))

    @line_magic
    @magic_arguments()
    @argument("topics", nargs="+", metavar="TOPIC", help="topic(s) to follow")
    @argument("--from-beginning", action="store_true",
              help="start at the oldest message instead of new ones only")
    @argument("--start", metavar="S", help="latest (default), earliest, an offset, -N (the "
              "last N of each partition) or an ISO time")
    @argument("--max-rows", type=int, metavar="N", help="rows kept (default 1000)")
    @argument("--mode", default="append", metavar="M",
              help="append (last N messages) or latest_by_key (newest message per key)")
    @argument("-o", "--output", metavar="VAR", help="also store the live DataFrame in VAR")
    @reporting
    def diaspora_stream(self, line: str = "") -> Any:
        """A live DataFrame of TOPIC that fills in the background; the cell returns at once."""
        args = parse_argstring(self.diaspora_stream, line)
        var = _var_name(args.output)
        live = stream_cmd.run_stream(self.settings, topics=args.topics,
                                     from_beginning=args.from_beginning, start=args.start,
                                     max_rows=args.max_rows, mode=args.mode)
        if var:
            self._store(var, "the live DataFrame")(live)
        return live
