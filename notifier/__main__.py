"""`python -m notifier` and the `notifier` script: ``cli.main``, reached through a Ctrl-C guard.

Importing ``notifier.cli`` (argparse, the error tree) takes 15-20 ms at start-up, in which a Ctrl-C
ended in a KeyboardInterrupt traceback; this module imports nothing of its own first."""
import sys


def main() -> int:
    try:
        from notifier.cli import main as run
    except KeyboardInterrupt:
        print("notifier: interrupted", file=sys.stderr)
        return 130
    return run()


if __name__ == "__main__":
    sys.exit(main())
