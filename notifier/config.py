"""Configuration: one typed table, validated once at start-up.

Order: built-in defaults, then the TOML file (``--config`` or ``$NOTIFIER_CONFIG``), then
``NOTIFIER_*`` environment overrides for the few keys an operator changes per host
(``NOTIFIER_DATABASE_URL``, ``NOTIFIER_STATE_DIR``). Secrets never live in the file: the file
names an environment variable (``password_env``, ``token_env``), and the value is read from
that variable or from ``$CREDENTIALS_DIRECTORY/<NAME>`` (systemd ``LoadCredential=``).
Every problem is a ``ConfigError`` naming the file and key.
"""
from __future__ import annotations

import os
import re
import tomllib
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.errors import ConfigError


@dataclass
class General:
    state_dir: str = ""               # default: $STATE_DIRECTORY, else ~/.local/state/digest-notifier
    contact: str = ""                 # an address for the User-Agent, so source operators can reach you
    public_url: str = ""              # https base for one-click unsubscribe links, when you run one
    outbox_dir: str = ""              # default: <state_dir>/outbox; used when no SMTP/Slack is configured
    retention_days: int = 90          # raw source records older than this are pruned
    send_empty: bool = False          # send a short "nothing today" note when nothing matched
    template_dir: str = ""            # your own templates, searched before the bundled ones


@dataclass
class Database:
    url: str = ""                     # default: sqlite:///<state_dir>/notifier.sqlite


@dataclass
class HFSource:
    enabled: bool = True
    base_url: str = "https://huggingface.co"
    token_env: str = "HF_TOKEN"
    max_catchup_days: int = 7
    min_interval_seconds: float = 1.0


@dataclass
class ArxivSource:
    enabled: bool = False
    base_url: str = "https://rss.arxiv.org"
    api_url: str = "https://export.arxiv.org/api/query"
    categories: list[str] = field(default_factory=lambda: ["cs.LG"])
    include_cross: bool = True
    min_interval_seconds: float = 3.0


@dataclass
class Sources:
    hf_daily: HFSource = field(default_factory=HFSource)
    arxiv: ArxivSource = field(default_factory=ArxivSource)
    timeout_seconds: float = 20.0
    max_attempts: int = 5


@dataclass
class Email:
    host: str = ""                    # empty: no SMTP, emails go to the local outbox
    port: int = 587
    security: str = "starttls"        # starttls | tls | none
    username: str = ""
    password_env: str = "NOTIFIER_SMTP_PASSWORD"
    from_: str = "digest-notifier <notifier@localhost>"
    timeout_seconds: float = 30.0
    ca_file: str = ""                 # extra CA bundle (self-signed relays); verification stays on
    unsubscribe_mailto: str = ""


@dataclass
class Slack:
    api_url: str = "https://slack.com/api/"
    token_env: str = "NOTIFIER_SLACK_TOKEN"
    min_interval_seconds: float = 1.0


@dataclass
class Schedule:
    time: str = "07:00"               # fetch cycle, local to `timezone`
    timezone: str = "UTC"


@dataclass
class Matching:
    max_items: int = 10
    upvote_weight: float = 0.0        # 0: order by relevance only
    threshold: float | None = None    # share of a profile's top score to be sent; None: the matcher's


@dataclass
class Delivery:
    max_attempts: int = 8
    retry_base_seconds: int = 300
    unknown_policy: str = "resend"    # resend | hold: what to do with a delivery a crash left in `sending`
    lease_seconds: int = 300          # a worker's claim on a delivery; renewed while it sends, taken over once expired


@dataclass
class Alerts:
    email: str = ""                   # operator address for alerts (sent through [email])
    slack: str = ""                   # or a Slack target (sent through [slack])
    source_failure_hours: int = 24    # a source failing this long raises an alert


@dataclass
class SubscriberSpec:
    """A subscriber declared in the config file (``[[subscribers]]``)."""

    keywords: str = ""
    email: str = ""
    slack: str = ""
    name: str = ""
    timezone: str = ""
    time: str = ""
    frequency: str = "daily"
    max_items: int = 0
    threshold: float | None = None


@dataclass
class Config:
    general: General = field(default_factory=General)
    database: Database = field(default_factory=Database)
    sources: Sources = field(default_factory=Sources)
    email: Email = field(default_factory=Email)
    slack: Slack = field(default_factory=Slack)
    schedule: Schedule = field(default_factory=Schedule)
    matching: Matching = field(default_factory=Matching)
    delivery: Delivery = field(default_factory=Delivery)
    alerts: Alerts = field(default_factory=Alerts)
    subscribers: list[SubscriberSpec] = field(default_factory=list)
    path: str = ""                    # the file it came from, for messages

    @property
    def state_dir(self) -> Path:
        return Path(self.general.state_dir).expanduser()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.state_dir / 'notifier.sqlite'}"

    @property
    def outbox_dir(self) -> Path:
        return Path(self.general.outbox_dir or self.state_dir / "outbox").expanduser()


TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
LEASE_RANGE = (3, 86400)         # seconds: renewed every third of it, so shorter is mostly renewal traffic
THRESHOLD_RANGE = (0.05, 0.95)    # below: nearly anything that matched is sent; above: the top paper alone


def load_config(path: str | os.PathLike | None = None, *, env: dict | None = None) -> Config:
    env = os.environ if env is None else env
    path = path or env.get("NOTIFIER_CONFIG") or None
    data: dict = {}
    if path:
        data = _read_toml(Path(path))
    config = Config()
    _apply(config, data, prefix="", where=str(path or "defaults"))
    config.path = str(path or "")
    config.subscribers = [_subscriber(item, i, str(path)) for i, item in enumerate(data.get("subscribers", []) or [])]
    if env.get("NOTIFIER_DATABASE_URL"):
        config.database.url = env["NOTIFIER_DATABASE_URL"]
    if env.get("NOTIFIER_STATE_DIR"):
        config.general.state_dir = env["NOTIFIER_STATE_DIR"]
    if not config.general.state_dir:
        config.general.state_dir = env.get("STATE_DIRECTORY") or "~/.local/state/digest-notifier"
    validate(config)
    return config


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read configuration: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None


def _apply(obj, data: dict, prefix: str, where: str) -> None:
    known = {f.name.rstrip("_"): f for f in fields(obj)}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if prefix == "" and key == "subscribers":
            continue
        f = known.get(key)
        if f is None or f.name == "path":
            raise ConfigError(f"{where}: unknown key '{dotted}'" + _suggest(key, known))
        current = getattr(obj, f.name)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: '{dotted}' must be a table")
            _apply(current, value, dotted + ".", where)
        else:
            setattr(obj, f.name, _coerce(value, _expected_type(obj, f.name), dotted, where))


def _expected_type(obj, name: str) -> type:
    """The type a key's value must have: its default's, or for an optional key (``float | None``,
    default None; TOML has no null, so unset means absent) the type it has when set."""
    current = getattr(obj, name)
    if current is not None:
        return type(current)
    return next(t for t in typing.get_args(typing.get_type_hints(type(obj))[name]) if t is not type(None))


def _coerce(value, expected: type, key: str, where: str):
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: '{key}' must be a list of strings")
        return value
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: '{key}' must be {expected.__name__}, not {type(value).__name__}")
    return value


def _suggest(key: str, known: dict) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _subscriber(item, index: int, where: str) -> SubscriberSpec:
    key = f"subscribers[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: '{key}' must be a table")
    spec = SubscriberSpec()
    _apply(spec, item, key + ".", where)
    if not spec.keywords.strip():
        raise ConfigError(f"{where}: '{key}.keywords' is required")
    if bool(spec.email) == bool(spec.slack):
        raise ConfigError(f"{where}: '{key}' needs exactly one of 'email' or 'slack'")
    check_threshold(spec.threshold, f"{where}: '{key}.threshold'")
    return spec


def validate(config: Config) -> None:
    where = config.path or "defaults"
    if config.email.security not in ("starttls", "tls", "none"):
        raise ConfigError(f"{where}: 'email.security' must be starttls, tls or none, not '{config.email.security}'")
    if not TIME_RE.match(config.schedule.time):
        raise ConfigError(f"{where}: 'schedule.time' must be HH:MM (24-hour), not '{config.schedule.time}'")
    check_timezone(config.schedule.timezone, f"{where}: 'schedule.timezone'")
    if config.delivery.unknown_policy not in ("resend", "hold"):
        raise ConfigError(f"{where}: 'delivery.unknown_policy' must be resend or hold")
    low, high = LEASE_RANGE
    if not low <= config.delivery.lease_seconds <= high:
        raise ConfigError(f"{where}: 'delivery.lease_seconds' must be between {low} and {high} (how long a "
                          f"dead worker's digest waits to be taken over), not {config.delivery.lease_seconds}")
    if config.matching.max_items < 1:
        raise ConfigError(f"{where}: 'matching.max_items' must be at least 1")
    check_threshold(config.matching.threshold, f"{where}: 'matching.threshold'")
    for name in ("hf_daily", "arxiv"):
        url = getattr(config.sources, name).base_url
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: 'sources.{name}.base_url' must be an http(s) URL, not '{url}'")


def check_threshold(value: float | None, what: str) -> float | None:
    """None (the matcher's default) or a share of the profile's top score within THRESHOLD_RANGE."""
    low, high = THRESHOLD_RANGE
    if value is not None and not low <= value <= high:      # also refuses nan
        raise ConfigError(f"{what} must be between {low} and {high} (lower sends more papers, higher fewer), "
                          f"not {value:g}")
    return value


def check_timezone(name: str, what: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{what}: unknown time zone '{name}' (use an IANA name such as Europe/Berlin)") from None


def read_secret(env_name: str, env: dict | None = None) -> str | None:
    """A secret from the environment, else from systemd's ``$CREDENTIALS_DIRECTORY/<env_name>``."""
    env = os.environ if env is None else env
    if not env_name:
        return None
    if env.get(env_name):
        return env[env_name]
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / env_name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    return None


def redacted(config: Config) -> dict:
    """The effective configuration as a dict, for `notifier config` (secrets are never in it)."""
    from dataclasses import asdict

    data = asdict(config)
    data["database"]["url"] = re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", config.database_url)
    data["general"]["state_dir"] = str(config.state_dir)
    return data
