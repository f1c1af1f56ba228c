import json
import sys

from notifier.commands import load
from notifier.errors import ConfigError, visible


def add_arguments(p):
    pass


def run(args) -> int:
    """The effective configuration; then, as warnings, what `run` and `serve` would refuse or warn
    about here (a secret may be missing only in this shell: systemd credentials reach the unit alone)."""
    from notifier.config import redacted, require_secrets, unsubscribe_missing

    config = load(args)
    source = (f"read from {config.path} (the defaults for every key it does not set)" if config.path
              else "the built-in defaults (no --config, no $NOTIFIER_CONFIG)")
    print(f"notifier: {visible(source)}", file=sys.stderr)
    print(json.dumps(redacted(config), indent=2, default=str))
    try:
        require_secrets(config)
    except ConfigError as err:
        print(f"notifier: warning: {err}; `notifier run` and `notifier serve` refuse to start without it here",
              file=sys.stderr)
    missing = unsubscribe_missing(config)
    if missing:
        print(f"notifier: warning: {missing[1]}", file=sys.stderr)
    if outbox := slack_to_outbox(config):
        print(f"notifier: warning: {outbox}", file=sys.stderr)
    return 0


def slack_to_outbox(config) -> str:
    """For a set-up that mails for real ([email] host) but has no Slack token here: where Slack
    digests go (`run` reports them written to the outbox folder, and why); '' otherwise."""
    from notifier.config import read_secret

    name = config.slack.token_env
    if not config.email.host or not name or read_secret(name):
        return ""
    return (f"${name} is not set here (nor $CREDENTIALS_DIRECTORY/{name}): digests to Slack channels and users "
            f"are written to {config.outbox_dir} instead (webhook: subscribers need no token)")
