"""The local console: the same slash commands as Discord, typed as lines, on a local data folder.

``/trade open symbol:AAPL direction:long entry:187.5 size:10 note:"two words"`` runs the same
handler against the same journal as the bot would. Replies print as readable text (rich); charts
and exports are saved under ``<data dir>/console/`` and their paths printed.

- Interactive (a TTY): a prompt with line editing and history (``<data dir>/console_history``).
- Piped (scripting): one command per line; blank lines and ``# comments`` are skipped.
- Exit status, the same as the CLI's (``exit_status``): 0 when every command did all it was
  asked; 1 when one failed, wholly or in part (a provider failed for a symbol, a daily run could
  not scan, an unexpected error); 2 when one was refused (bad input: a value, a name, a
  permission) or a line could not be parsed (unknown command, bad quoting, a word that is not
  ``name:value``). Every line runs either way, up to ``quit`` or ``exit``, which end the input
  piped as typed.
- The user is a fixed local member (guild 1, user 1) with admin rights.
- Settings come from the environment (``settings.load_settings``); with no Unusual Whales key it
  uses the offline sample data.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from commands.core.errors import CommandError
from commands.core.models import Invocation, Reply, Upload
from commands.core.service import CommandService
from commands.core.spec import COMMANDS, find_command
from commands.core.values import MAX_UPLOAD
from commands.general.handlers import with_ping_timings
from commands.strategies.draft import SAVE_PREFIX, TRY_PREFIX
from events.audit import CommandHandled
from events.base import Envelope

LOCAL_GUILD = 1
LOCAL_USER = 1
PROMPT = "ibpicker> "
QUIT = {"quit", "exit", "/quit", "/exit"}
INTRO = (
    "ibpicker console: the bot's slash commands on a local journal (offline sample data unless "
    "provider keys are set). Try:\n"
    "  /fetch stocks symbols:AAPL,MSFT,NVDA,NFLX,JPM\n"
    "  /analyze strategy:macd_volume_thrust symbols:AAPL,MSFT,NVDA,NFLX,JPM\n"
    "  /trade open symbol:AAPL direction:long entry:187.5 size:10\n"
    "  /help    (quit with Ctrl-D or 'quit')"
)
DEMO_SCRIPT = (
    '/watchlist add symbol:AAPL note:"demo" tags:tech',
    "/watchlist add symbol:MSFT tags:tech",
    "/watchlist add symbol:NVDA tags:semis",
    "/watchlist add symbol:NFLX tags:media",
    "/watchlist add symbol:JPM tags:banks",
    "/fetch stocks symbols:AAPL,MSFT,NVDA,NFLX,JPM",
    "/fetch flows symbols:AAPL,MSFT,NVDA,NFLX,JPM",
    "/schedule set strategy:macd_volume_thrust time:09:30 enabled:true",
    "/analyze strategy:macd_volume_thrust",
)

_OPTION = re.compile(r"^([a-z_]+):(.*)$", re.S)
_UNDECODED = re.compile("[\udc80-\udcff]")
"""Bytes that were not UTF-8, as ``surrogateescape`` keeps them (``tolerant_stdin``): such a line
is refused by ``parse_line`` and the lines after it still run."""

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def exit_status(outcome: str, *, partial: bool = False) -> int:
    """The one meaning of an exit status, for the console and the CLI alike, from a command's
    audit outcome (``ok``, ``rejected``, ``error``): 0 done in full; 1 failed, wholly (an
    unexpected error) or in part (``Reply.partial``); 2 refused, nothing done (bad input)."""
    if outcome == "rejected":
        return EXIT_REFUSED
    if outcome != "ok" or partial:
        return EXIT_FAILED
    return EXIT_OK


def outcome_of(stored: Iterable[Envelope]) -> str:
    """The audit outcome among a command's events: ``ok``, ``rejected`` or ``error`` (``error``
    when none was kept)."""
    for env in stored:
        if isinstance(env.event, CommandHandled):
            return env.event.outcome
    return "error"


def command_outcome(service: CommandService, command_id: str) -> str:
    """The audit outcome the journal holds for ``command_id`` (``outcome_of``)."""
    span = service.journal.command_span(command_id)
    if span is None:
        return "error"
    return outcome_of(env for page in service.journal.read(span[0], span[1]) for env in page)


class ParseError(CommandError, ValueError):
    """A console line that is not a command."""


def parse_line(line: str) -> tuple[str, dict[str, str]]:
    """``/name words opt:value opt:"quoted value"`` -> (command name, options as text)."""
    bad = _UNDECODED.search(line)
    if bad is not None:
        raise ParseError(
            f"the line is not valid UTF-8 (byte 0x{ord(bad.group()) - 0xDC00:02x} at character "
            f"{bad.start() + 1}); it was not run"
        )
    try:
        tokens = shlex.split(line.strip())
    except ValueError as exc:
        raise ParseError(f"cannot read the line: {exc}") from None
    if not tokens:
        raise ParseError("empty line")
    tokens[0] = tokens[0].lstrip("/")
    words: list[str] = []
    options: dict[str, str] = {}
    for token in tokens:
        match = _OPTION.match(token)
        if match is None:
            if options:
                raise ParseError(
                    f"unexpected {token!r} after the options: quote values with spaces "
                    '(note:"two words")'
                )
            words.append(token.lower())
            continue
        options[match.group(1)] = match.group(2)
    name = " ".join(words)
    if find_command(name) is None:
        close = [c.name for c in COMMANDS if c.name.startswith(words[0] if words else "")]
        hint = f" (did you mean: {', '.join('/' + c for c in close)}?)" if close else ""
        raise ParseError(f"unknown command /{name}{hint}; /help lists them")
    return name, options


def with_files(name: str, options: dict[str, str]) -> dict[str, object]:
    """The options of a line with each file option (``file:./my.yaml``) read into an ``Upload``:
    the console's attachment is a path, relative to where it runs."""
    spec = find_command(name)
    files = {o.name for o in spec.options if o.type == "attachment"} if spec else set()
    return {k: file_upload(v) if k in files else v for k, v in options.items()}


def file_upload(text: str) -> Upload:
    """The file at path ``text``, as the command takes a sent file: its bytes (none when it is
    over ``MAX_UPLOAD``: the command refuses it by size), or why it cannot be read."""
    path = Path(text).expanduser()
    name = path.name or text
    try:
        if not path.is_file():
            return Upload(
                filename=name, problem="no such file" if not path.exists() else "not a file"
            )
        size = path.stat().st_size
        data = b"" if size > MAX_UPLOAD else path.read_bytes()
    except OSError as exc:
        return Upload(filename=name, problem=exc.strerror or type(exc).__name__)
    return Upload(filename=name, data=data, size=size)


class Printer:
    """Prints replies as text and saves attachments under the data folder."""

    def __init__(self, console: Console, attachments_dir: Path) -> None:
        self.console = console
        self.dir = attachments_dir

    def reply(self, reply: Reply, *, command_id: str) -> None:
        """Print one reply and its pages; save its files."""
        for page in (reply, *reply.pages):
            self._page(page)
        for att in reply.attachments:
            self.dir.mkdir(parents=True, exist_ok=True)
            path = self.dir / f"{command_id}-{att.filename}"
            path.write_bytes(att.data)
            self.console.print(f"saved {att.description or att.filename}: {path}", markup=False)
        for button in reply.buttons:
            self._draft_hint(button.label, button.custom_id)
            parts = button.custom_id.split(":")
            if len(parts) == 4 and parts[1] == "logtrade":
                self.console.print(
                    f"[{button.label}] /trade open symbol:{parts[3]} direction:long entry:<price> "
                    f"size:<n> signal:{parts[2]}:{parts[3]}",
                    markup=False,
                    style="dim",
                )

    def _draft_hint(self, label: str, custom_id: str) -> None:
        """A draft's Save / Try it button as the command it runs."""
        for prefix, command in ((SAVE_PREFIX, "strategy save"), (TRY_PREFIX, "strategy try")):
            if custom_id.startswith(prefix):
                draft = custom_id.removeprefix(prefix)
                self.console.print(f"[{label}] /{command} draft:{draft}", markup=False, style="dim")

    def _page(self, page: Reply) -> None:
        style = "bold red" if not page.ok else "bold"
        if page.title:
            self.console.print(page.title, style=style, markup=False)
        if page.description:
            # Wrapped to the width, never cropped: soft wrapping (the console's default, so
            # plain lines are not broken) would crop Markdown list items at a narrow width.
            self.console.print(
                _markdown(page.description), style="" if page.ok else "red", soft_wrap=False
            )
        if page.fields:
            table = Table(show_header=False, box=None, pad_edge=False)
            table.add_column(style="cyan", no_wrap=True)
            table.add_column()
            for name, value, _ in page.fields:
                table.add_row(name, _markdown(value))
            self.console.print(table, soft_wrap=False)
        if page.footer:
            self.console.print(page.footer, style="dim", markup=False)
        self.console.print()


def _markdown(text: str) -> Markdown:
    # Replies use one line per item; Markdown would join them into a paragraph without this.
    return Markdown(text.replace("\n", "  \n"))


class ConsoleSession:
    """Runs console lines against a command service and tracks the exit status."""

    def __init__(self, service: CommandService, printer: Printer) -> None:
        self.service = service
        self.printer = printer
        self.status = EXIT_OK

    def invocation(self) -> Invocation:
        """The fixed local admin member, with a fresh command id."""
        return Invocation(
            command_id=f"console-{uuid.uuid4().hex[:16]}",
            guild_id=LOCAL_GUILD,
            user_id=LOCAL_USER,
            user_name="console",
            is_admin=True,
            channel_id=LOCAL_GUILD,
        )

    async def run_line(self, line: str) -> Reply | None:
        """Parse and run one line; print the reply or the parse error."""
        try:
            name, options = parse_line(line)
        except ParseError as exc:
            self.status = EXIT_REFUSED
            self.printer.console.print(f"error: {exc}", style="red", markup=False)
            return None
        inv = self.invocation()
        received = time.perf_counter()
        reply = await self.service.execute(name, with_files(name, options), inv)
        if name == "ping" and reply.ok:
            answered_in = time.perf_counter() - received
            reply = with_ping_timings(reply, gateway_latency=None, answered_in=answered_in)
        outcome = "ok" if reply.ok else command_outcome(self.service, inv.command_id)
        self.status = max(self.status, exit_status(outcome, partial=reply.partial))
        self.printer.reply(reply, command_id=inv.command_id)
        return reply

    @property
    def exit_code(self) -> int:
        """The worst status of the lines run (``exit_status``; 2 for a line that did not parse)."""
        return self.status


def script_lines(stream: TextIO) -> Iterator[str]:
    """Command lines of a piped script (blank lines and ``#`` comments skipped), up to a
    ``quit`` or ``exit`` line, which ends the script as it ends a typed session."""
    for raw in stream:
        line = raw.strip()
        if line in QUIT:
            return
        if line and not line.startswith("#"):
            yield line


def interactive_lines(history: Path) -> Iterator[str]:
    """Lines typed at a prompt, with readline editing and a history file."""
    try:
        import readline
    except ImportError:  # pragma: no cover - not on every platform
        readline = None  # type: ignore[assignment]
    if readline is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(history)
    try:
        while True:
            try:
                line = input(PROMPT).strip()
            except EOFError:
                return
            except KeyboardInterrupt:
                print()
                continue
            if line in QUIT:
                return
            if line:
                yield line
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(history)


async def run_console(
    data_dir: Path,
    *,
    demo: bool = False,
    stdin: TextIO | None = None,
    out: Console | None = None,
) -> int:
    """Run the console on ``data_dir`` until the input ends; return the exit status."""
    from commands.wiring import close_service, open_configured_service
    from fetchers.http import HttpSession
    from settings import Secrets, SettingsError, load_settings

    stream = stdin or tolerant_stdin()
    console = out or Console(highlight=False, soft_wrap=True)
    try:
        settings = load_settings()
    except SettingsError as exc:
        console.print(f"error: {exc}", style="red", markup=False)
        return 2
    secrets = Secrets(
        uw_api_key=settings.uw_api_key,
        finnhub_api_key=settings.finnhub_api_key,
        anthropic_api_key=settings.anthropic_api_key,
        discord_token=settings.discord_token,
    )

    clock = settings.clock()  # the one clock (IBPICKER_NOW pins it) for fetches and commands
    async with HttpSession() as http:
        service = open_configured_service(settings, secrets, http, data_dir=data_dir, clock=clock)
        try:
            session = ConsoleSession(service, Printer(console, data_dir / "console"))
            interactive = stream.isatty()
            if service.journal.head() == 0 and not demo:
                console.print(INTRO, markup=False)
            if demo:
                await _echo_all(session, console, DEMO_SCRIPT)
            if interactive:
                lines: Iterable[str] = interactive_lines(data_dir / "console_history")
                for line in lines:
                    await session.run_line(line)
            else:
                await _echo_all(session, console, script_lines(stream))
            return session.exit_code
        finally:
            close_service(service)


def tolerant_stdin() -> TextIO:
    """Standard input decoded as UTF-8 line by line with ``surrogateescape``: a line with bytes
    that are not UTF-8 reaches ``parse_line``, which refuses that line alone (strict decoding
    would abort the whole run at the first bad byte)."""
    stdin = sys.stdin
    if isinstance(stdin, io.TextIOWrapper):
        stdin.reconfigure(encoding="utf-8", errors="surrogateescape")
    return stdin


def printable(line: str) -> str:
    """``line`` as it can be printed: undecodable bytes shown as U+FFFD."""
    return line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


async def _echo_all(session: ConsoleSession, console: Console, lines: Iterable[str]) -> None:
    for line in lines:
        console.print(f"> {printable(line)}", style="bold cyan", markup=False)
        await session.run_line(line)
