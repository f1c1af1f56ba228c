"""The `notifier` command line: a thin dispatcher.

Each command lives in ``notifier/commands/<name>.py`` with ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so ``--help`` and
``notifier match`` start fast. Any ``NotifierError`` becomes one line on stderr and exit 1; a
reader of the output that stops early (`| head`) ends no command before its end.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import io
import os
import re
import shlex
import sys
from contextlib import contextmanager

from notifier.errors import NotifierError, visible

# Writing failed for want of room or of a working device (`> /dev/full`, a full disk, a quota):
# the machine's state, not a bug, so one line instead of a traceback.
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)
# A file or folder the system would not let us use (its permissions, a read-only mount): the
# machine's set-up too, whichever command met it first.
REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)

# command name -> (module under notifier.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "run the whole pipeline on bundled sample digests, no network, no config"),
    "run": ("run", "one full cycle now: fetch, store, match, render, deliver"),
    "serve": ("serve", "the long-running daemon (APScheduler), for systemd"),
    "fetch": ("fetch", "fetch and store digests without delivering"),
    "parse": ("parse", "parse one digest input (file or URL) and print its papers"),
    "match": ("match", "score papers against one profile or many"),
    "profile": ("profile", "show how a keyword profile is understood"),
    "subscribe": ("subscribe", "add a subscriber with a keyword profile"),
    "unsubscribe": ("unsubscribe", "stop a subscriber's digests (`subscribe` brings them back, with their profiles)"),
    "subscribers": ("subscribers", "list subscribers and their profiles"),
    "edit": ("edit", "change a subscriber's profile or settings"),
    "preview": ("preview", "render a subscriber's digest without sending"),
    "status": ("status", "last fetches per source, pending and failed deliveries"),
    "resolve": ("resolve", "settle a digest of unknown outcome: record it delivered, or resend it"),
    "prune": ("prune", "drop raw source records older than the retention age"),
    "config": ("config", "show the effective configuration, secrets redacted"),
    "vote": ("vote", "record a subscriber's vote on a paper: up, down or clear"),
    "web": ("web", "the self-service web app (subscribe, confirm, manage, unsubscribe, votes)"),
    "db": ("db", "database chores: `db copy --to URL` moves everything to another database"),
}


class Parser(argparse.ArgumentParser):
    """A usage error is one line, exit 2 (argparse put its usage block of up to five lines above
    it). argparse reads a value that starts with '-' (a profile '-diffusion,moe') as an option and
    says only 'expected one argument', or that the argument it is is missing: the usage error
    names the way to write it."""

    words: tuple[str, ...] = ()

    def parse_known_args(self, args=None, namespace=None):
        self.words = tuple(sys.argv[1:] if args is None else args)     # for error(): what this parser was given
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        message = _command_meant(message)
        option = re.fullmatch(r"argument (?:\S+/)?(--?[\w-]+): expected one argument", message)
        value = self.dashed_value(option.group(1)) if option else ""
        if value:
            message += f" (a value starting with '-' goes after '=': {option.group(1)}={shlex.quote(value)})"
        elif re.match(r"the following arguments are required: [A-Z]", message) and self.stray():   # a positional
            message += f" (a value starting with '-' goes after '--': {self.prog} -- {shlex.quote(self.stray())})"
        self.exit(2, f"{self.prog}: error: {message}\n")    # one line: the usage block above it said nothing new

    def dashed_value(self, option: str) -> str:
        """The word given after OPTION (or another of its names) when it starts with '-', else ''."""
        names = self._option_string_actions[option].option_strings
        return next((value for word, value in zip(self.words, self.words[1:]) if word in names
                     and value.startswith("-")), "")

    def stray(self) -> str:
        """The first word given that starts with '-' and is none of this parser's options, else ''."""
        return next((w for w in self.words if w.startswith("-") and w.split("=")[0] not in self._option_string_actions), "")


def _command_meant(message: str) -> str:
    """argparse's "invalid choice: 'statu' (choose from 'demo', 'run', ...19 of them)" for a
    command typed nearly right -> "unknown command 'statu': did you mean 'status'?"; for another
    choice (`subscribers imprt`, `--format htm`, `vote ... upp`) the choices follow the one meant."""
    import difflib

    typed = re.fullmatch(r"argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)", message)
    if not typed:
        return message
    name, word, choices = typed.groups()
    close = difflib.get_close_matches(word, [c.strip("'") for c in choices.split(", ")], n=1)
    if not close:
        return message
    if name == "COMMAND":
        return f"unknown command '{word}': did you mean '{close[0]}'?"
    return f"argument {name}: invalid choice: '{word}': did you mean '{close[0]}'? (choose from {choices})"


def build_parser(only: str = "") -> argparse.ArgumentParser:
    from notifier import __version__

    parser = Parser(
        prog="notifier",
        description="Personalised daily digests of Hugging Face Daily Papers and arXiv.",
    )
    parser.add_argument("--version", action="version", version=f"notifier {__version__}")
    add_global_options(parser, {"default": None}, {"default": False})
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            _module(module).add_arguments(p)
            for command in parsers_of(p):     # `notifier fetch -c FILE` too (it said "unrecognized arguments")
                add_global_options(command, {"default": argparse.SUPPRESS}, {"default": argparse.SUPPRESS})
    return parser


def add_global_options(parser, config: dict, verbose: dict) -> None:
    """-c/--config and -v/--verbose. After a command their default is SUPPRESS: a command's parser
    sets them only when given, never over a value given before the command."""
    parser.add_argument("-c", "--config", metavar="FILE", **config,
                        help="configuration file (default: $NOTIFIER_CONFIG, else built-in defaults)")
    parser.add_argument("-v", "--verbose", action="store_true", **verbose, help="log debug details")


def parsers_of(parser) -> list[argparse.ArgumentParser]:
    """``parser`` and the parsers of its actions (`profile check`, `subscribers import`), depth first."""
    below = [p for a in parser._actions if isinstance(a, argparse._SubParsersAction) for p in a.choices.values()]
    return [parser] + [q for p in below for q in parsers_of(p)]


def _module(module: str):
    return importlib.import_module(f"notifier.commands.{module}")


def command_in(argv: list[str]) -> str:
    """The command ``argv`` names (``command_at``), or ''."""
    at = command_at(argv)
    return "" if at is None else argv[at]


def command_at(argv: list[str]) -> int | None:
    """Where the command is in ``argv``: its first word that is one, but not the FILE of a
    -c/--config before it (a configuration file called `config` or `run`)."""
    words = iter(enumerate(argv))
    for at, word in words:
        if word in ("-c", "--config"):
            next(words, None)
        elif word in COMMANDS:
            return at
    return None


def main(argv: list[str] | None = None) -> int:
    """Ctrl-C is one line and exit 130 from the first moment: a command's module may take a
    quarter of a second to load (numpy), and a Ctrl-C then ended in a traceback."""
    try:
        return run_command(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        print("notifier: interrupted", file=sys.stderr)
        return 130


def run_command(argv: list[str]) -> int:
    # Only the chosen command's module is imported; plain --help imports none of them.
    parser = build_parser(only=command_in(argv))
    args, stray = parser.parse_known_args(argv)
    if stray:
        args = after_options(parser, argv, args)
    if not args.command:
        parser.print_help()
        return 2
    from notifier.logs import stderr_logging

    try:
        with stderr_logging(verbose=args.verbose), output_kept_to_the_end():
            code = _module(COMMANDS[args.command][0]).run(args) or 0
            sys.stdout.flush()          # what is still buffered fails here, not past these handlers at exit
            return code
    except NotifierError as err:
        print("notifier: error: " + "\n".join(map(visible, err.lines or [str(err)])), file=sys.stderr)
        return 1
    except OSError as err:
        line = os_error_line(err)
        if line is None:
            raise
        print(f"notifier: error: {visible(line)}", file=sys.stderr)
        return 1


def after_options(parser, argv: list[str], args) -> argparse.Namespace:
    """A command's FILE typed after its options (`subscribers export --all team.csv`): argparse
    takes a command's optional words (ACTION, FILE) before its first option, so it refused
    team.csv as unrecognized. The command's words are read again, options and words mixed; a
    command with commands of its own (`db copy`) gets argparse's own error."""
    command = parser._subparsers._group_actions[0].choices.get(args.command) if args.command else None
    if command is None or any(isinstance(a, argparse._SubParsersAction) for a in command._actions):
        return parser.parse_args(argv)
    return command.parse_intermixed_args(argv[command_at(argv) + 1:], namespace=args)


def os_error_line(err: OSError) -> str | None:
    """The one line for an OSError that is the machine's state, not a bug; None for any other."""
    if err.errno in WRITE_ERRORS:
        return f"could not write {err.filename or 'the output'}: {err.strerror}"
    if err.errno in REFUSED and err.filename:
        return f"{err.filename}: {err.strerror} (check the permissions of it and of the folders above it)"
    return None


class ReaderMayGo(io.FileIO):
    """Standard output's file. Once its reader has gone (`notifier list | head -1`), what is written
    goes to /dev/null: the command runs to its end, and its exit status (status's 3, run's 3, an
    error's 1) is what the caller gets, with no 'BrokenPipeError' on stderr."""

    def write(self, data) -> int:
        try:
            return super().write(data)
        except BrokenPipeError:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self.fileno())
            os.close(null)
            return len(memoryview(data).cast("B"))


@contextmanager
def output_kept_to_the_end():
    """Every command's printing goes through ``ReaderMayGo`` (not a test's captured stdout)."""
    real = sys.stdout
    if real is None or real is not sys.__stdout__:
        yield
        return
    real.flush()
    raw = ReaderMayGo(real.fileno(), "w", closefd=False)
    binary = raw if isinstance(real.buffer, io.RawIOBase) else io.BufferedWriter(raw)    # unbuffered (-u) as it was
    sys.stdout = io.TextIOWrapper(binary, encoding=real.encoding, errors=real.errors,
                                  line_buffering=real.line_buffering, write_through=real.write_through)
    try:
        yield
    finally:
        kept, sys.stdout = sys.stdout, real
        kept.flush()


if __name__ == "__main__":
    sys.exit(main())
