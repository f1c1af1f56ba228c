"""Configuration: one typed table, validated once at start-up.

Order: built-in defaults, then the TOML file (``--config`` or ``$NOTIFIER_CONFIG``), then
``NOTIFIER_*`` environment overrides for the few keys an operator changes per host
(``NOTIFIER_DATABASE_URL``, ``NOTIFIER_STATE_DIR``). Secrets never live in the file: the file
names an environment variable (``password_env``, ``token_env``), and the value is read from
that variable or from ``$CREDENTIALS_DIRECTORY/<NAME>`` (systemd ``LoadCredential=``).
Every problem is a ``ConfigError`` naming the file, the line and the key.
"""
from __future__ import annotations

import logging
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.errors import ConfigError
from notifier.logs import event, redact_value
from notifier.toml_lines import line_of


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
    timeout_seconds: float = 20.0         # each connect / read
    total_timeout_seconds: float = 120.0  # a whole response (a slow trickle is abandoned past it)
    max_attempts: int = 5
    max_response_bytes: int = 20_000_000   # a longer body is a failed fetch (an HF API page of 100 is ~0.6 MB)
    max_items_per_day: int = 5000          # a day or listing with more items is a failed fetch


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
    # A transient failure is retried retry_base_seconds later, the wait doubling up to 6 h (sending.RETRY_CAP):
    # at the defaults the 11th attempt is ~28.6 h after the first, later than the next day's digest, which
    # folds one still retrying into its catch-up. A day-long outage fails no digest (8 gave up after ~10.6 h).
    max_attempts: int = 11
    retry_base_seconds: int = 300
    unknown_policy: str = "resend"    # resend | hold: what to do with a delivery a crash left in `sending`
    lease_seconds: int = 300          # a worker's claim on a delivery; renewed while it sends, taken over once expired


@dataclass
class Alerts:
    email: str = ""                   # operator address for alerts (sent through [email])
    slack: str = ""                   # or a Slack target (sent through [slack])
    source_failure_hours: int = 24    # a source failing this long raises an alert


@dataclass
class Web:
    """`notifier web`, the self-service pages (subscribe, confirm, manage, unsubscribe, votes)."""

    listen: str = "127.0.0.1:8080"   # host:port uvicorn binds; put a TLS reverse proxy in front
    public_url: str = ""              # https base users reach it at; every link in a mail starts with it
    secret_env: str = "NOTIFIER_WEB_SECRET"   # the variable (or credential) holding the link-signing key
    slack_signing_secret_env: str = "NOTIFIER_SLACK_SIGNING_SECRET"   # verifies Slack button clicks
    slack_targets: list[str] = field(default_factory=list)   # Slack targets a visitor may subscribe
    link_days: int = 90               # signed links in digests (manage, votes, unsubscribe) last this long
    confirm_hours: int = 48           # a double opt-in link lasts this long, and works once
    limit_per_address: str = "3/hour"    # subscribe requests per address (N/second, minute, hour or day)
    limit_per_client: str = "20/hour"    # sign-ups per client IP (live previews and refused forms: web.app.TESTER_LIMIT)
    max_body_bytes: int = 65536       # larger request bodies are refused (413)
    forwarded_allow_ips: str = "127.0.0.1"   # proxies whose X-Forwarded-For is believed


@dataclass
class SubscriberSpec:
    """A subscriber declared in the config file (``[[subscribers]]``): ``keywords`` one profile, or
    ``profiles`` several (as `--keywords` given again: README, "Subscribers and keyword profiles")."""

    keywords: str = ""
    profiles: list[str] = field(default_factory=list)
    email: str = ""
    slack: str = ""
    name: str = ""
    timezone: str = ""
    time: str = ""
    frequency: str = "daily"
    max_items: int | None = None
    threshold: float | None = None

    def texts(self) -> list[str]:
        """The profiles typed: ``keywords`` or ``profiles`` (``_subscriber`` allows one of them)."""
        return [self.keywords] if self.keywords.strip() else self.profiles


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
    web: Web = field(default_factory=Web)
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


# \Z, not $: "07:00\n" is not a time; [0-9], not \d: no other script's digits
TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]\Z")
DEFAULT_THRESHOLD = 0.4           # matching.threshold when unset: the matcher's RELATIVE_THRESHOLD, written here too
                                  # so that showing it loads no numpy and `notifier match` no config (a test checks)
THRESHOLD_RANGE = (0.05, 0.95)    # the share of a profile's best a paper must score (less with strong evidence,
                                  # down to share**3; below 0.4 also the floor): 0.05 sends nearly anything matched
                                  # squarely, 0.95 only papers within about 0.86 of its 3 best's mean
MAX_ITEMS_RANGE = (1, 100)        # a digest is read in one sitting; Slack posts at most 50 blocks a message

# The one table of ranges: every numeric key, checked once at load. Finite numbers only (the
# comparisons refuse nan, inf and -inf). A key missing here is a test failure.
BOUNDS: dict[str, tuple[float, float]] = {
    "general.retention_days": (1, 36500),
    "sources.hf_daily.max_catchup_days": (0, 60),
    "sources.hf_daily.min_interval_seconds": (0, 60),
    "sources.arxiv.min_interval_seconds": (0, 60),
    "sources.timeout_seconds": (1, 600),
    "sources.total_timeout_seconds": (1, 3600),
    "sources.max_attempts": (1, 20),
    "email.port": (1, 65535),
    "email.timeout_seconds": (1, 600),
    "slack.min_interval_seconds": (0, 60),
    "matching.max_items": MAX_ITEMS_RANGE,
    "matching.upvote_weight": (0, 5),
    "matching.threshold": THRESHOLD_RANGE,
    "delivery.max_attempts": (1, 100),
    "delivery.retry_base_seconds": (1, 86400),
    "delivery.lease_seconds": (3, 86400),     # renewed every third of it: shorter is mostly renewal traffic
    "alerts.source_failure_hours": (1, 24 * 30),
    "sources.max_response_bytes": (1000, 1_000_000_000),
    "sources.max_items_per_day": (1, 1_000_000),
    "web.link_days": (1, 3650),
    "web.confirm_hours": (1, 24 * 30),
    "web.max_body_bytes": (1024, 10_000_000),
}
HINTS = {"matching.threshold": " (lower sends more papers, higher fewer)",
         "delivery.lease_seconds": " (how long a dead worker's digest waits to be taken over)"}
# postgresql:// is psycopg 3 too (SQLAlchemy 2.1's default driver for PostgreSQL)
BLANK_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")    # never in a URL, host name or listen address
DATABASE_URL_RE = re.compile(r"^(sqlite:///[^\x00-\x1f\x7f?]+|postgresql(\+psycopg)?://[^/\s]*/[^/?#\s]+(\?\S*)?)\Z")


def load_config(path: str | os.PathLike | None = None, *, env: dict | None = None) -> Config:
    env = os.environ if env is None else env
    named_by = "" if path else " (named by $NOTIFIER_CONFIG)"     # else a wrong file's source is a puzzle
    path = path or env.get("NOTIFIER_CONFIG") or None
    data: dict = {}
    if path:
        data = _read_toml(Path(path), named_by)
    config = Config()
    _apply(config, data, prefix="", where=str(path or "defaults"))
    config.path = str(path or "")
    config.subscribers = [_subscriber(item, i, str(path)) for i, item in enumerate(_entries(data, str(path)))]
    _located(str(path or "defaults"), "database.url", check_database_url, config.database.url)
    if env.get("NOTIFIER_DATABASE_URL"):
        config.database.url = check_database_url(env["NOTIFIER_DATABASE_URL"], "NOTIFIER_DATABASE_URL")
    if env.get("NOTIFIER_STATE_DIR"):
        config.general.state_dir = env["NOTIFIER_STATE_DIR"]
    if not config.general.state_dir:
        config.general.state_dir = env.get("STATE_DIRECTORY") or "~/.local/state/digest-notifier"
    one_spelling(config)
    validate(config)
    return config


def _entries(data: dict, where: str) -> list:
    entries = data.get("subscribers", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{_at(where, 'subscribers')} must be a list of [[subscribers]] tables, "
                          f"not {_toml(entries)}")
    return entries


def _read_toml(path: Path, named_by: str) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))     # a byte order mark (Notepad's "UTF-8 with BOM") is no key
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file{named_by}") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read configuration{named_by}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start}); "
                          "save it as UTF-8") from None


# ----------------------------------------------------------------------------- where a key is in the file
def _at(where: str, key: str) -> str:
    """How a message names KEY of the file WHERE: "FILE: line N: 'key'"."""
    return f"{_where(where, key)}: '{key}'"


def setting(config: Config, key: str) -> str:
    """How an error names KEY of the configuration in use: "FILE: line N: 'key'", or "'key'" when
    no file is read (it said 'defaults: ...', as if there were a file called so to look in)."""
    return _at(config.path, key) if config.path else f"'{key}'"


NO_FILE = "no configuration file is read: -c FILE or $NOTIFIER_CONFIG names one (config.example.toml documents every key)"


def _located(where: str, key: str, check, *args, **kwargs):
    """``check(*args, "'KEY'", **kwargs)``, a check that names what it checks (check_bound,
    check_http_url, ...); its ConfigError is given the file and line of KEY. The file is read
    again only then: a start with 10,000 [[subscribers]] does not pay for it."""
    try:
        return check(*args, f"'{key}'", **kwargs)
    except ConfigError as err:
        raise ConfigError(f"{_where(where, key)}: {err}") from None


def _where(where: str, key: str) -> str:
    """'FILE: line N', N the line of the file WHERE that sets KEY (or the table or key holding
    it: a key of an inline table is on its table's line); WHERE alone for a key the file does
    not set (a default) or for no file ('defaults')."""
    try:
        text = Path(where).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return where
    line = line_of(text, key)
    return f"{where}: line {line}" if line else where


def _apply(obj, data: dict, prefix: str, where: str) -> None:
    known = {f.name.rstrip("_"): f for f in fields(obj)}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if prefix == "" and key == "subscribers":
            continue
        f = known.get(key)
        if f is None or f.name == "path":
            raise ConfigError(f"{_where(where, dotted)}: unknown key '{dotted}'" + _suggest(key, known, prefix.rstrip(".")))
        current = getattr(obj, f.name)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{_at(where, dotted)} must be a table, not {_toml(value)}")
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
            raise ConfigError(f"{_at(where, key)} must be a list of strings")
        return value
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{_at(where, key)} must be {TOML_KINDS[expected]}, not {_toml(value)}")
    return value


TOML_KINDS = {str: "a string in quotes", int: "a whole number", float: "a number", bool: "true or false"}


def _toml(value) -> str:
    """A value as a message shows it, in TOML's words: 'x' quoted, true, 30.5, a table, a list."""
    if isinstance(value, (dict, list)):
        return "a table" if isinstance(value, dict) else "a list"
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _suggest(key: str, known: dict, table: str = "") -> str:
    """The known key meant: the same key in a table above or below this one (`max_attempts` in
    [sources.hf_daily] belongs to [sources]), else one spelled nearly alike (difflib's default
    cutoff, 0.6, offered 'time' for 'active'), else one the typed key is part of or contains ('zone':
    'timezone'); without one, the table's keys."""
    import difflib

    homes = [f"[{name}]" for name, other in _tables(Config(), "") if _related(name, table)
             and key in {f.name.rstrip("_") for f in fields(other)}]
    if homes:
        return f" (it is a key of {', '.join(homes)})"
    names, typed = [k for k in known if k != "path"], key.lower()
    parts = [k for k in names if len(typed) >= 3 and (typed in k or k in typed)]
    close = (difflib.get_close_matches(typed, names, n=1, cutoff=0.75)
             or difflib.get_close_matches(typed, parts, n=1, cutoff=0))
    return f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(sorted(names))})"


def _tables(obj, name: str) -> typing.Iterator[tuple[str, object]]:
    """(dotted name, table) for every table of the configuration, nested ones included."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            dotted = f"{name}.{f.name}" if name else f.name
            yield dotted, value
            yield from _tables(value, dotted)


def _related(name: str, table: str) -> bool:
    """One table nested in the other (an unrelated table's `port` is not what [web] lacks); every
    table is nested in the top of the file, where a key typed above its table's header lands."""
    return name != table and (not table or name.startswith(table + ".") or table.startswith(name + "."))


def _subscriber(item, index: int, where: str) -> SubscriberSpec:
    key = f"subscribers[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{_at(where, key)} must be a table, not {_toml(item)}")
    spec = SubscriberSpec()
    _profile_keys(item, key, where)
    _apply(spec, item, key + ".", where)
    has_profiles = any(text.strip() for text in spec.profiles)
    if spec.keywords.strip() and has_profiles:
        raise ConfigError(f"{_at(where, key)} has both 'keywords' and 'profiles': put every profile in 'profiles'")
    if not spec.keywords.strip() and not has_profiles:
        raise ConfigError(f"{_at(where, key + '.keywords')} is required (or 'profiles', a list of several)")
    if bool(spec.email) == bool(spec.slack):
        raise ConfigError(f"{_at(where, key)} needs exactly one of 'email' or 'slack'")
    return spec


def _profile_keys(item: dict, key: str, where: str) -> None:
    """'keywords' (one profile) given a list, or 'profiles' (several) given a string: the error says
    which key takes which."""
    if isinstance(item.get("keywords"), list):
        raise ConfigError(f"{_at(where, key + '.keywords')} must be a string in quotes, not a list: "
                          "several profiles go in 'profiles'")
    if isinstance(item.get("profiles"), str):
        raise ConfigError(f"{_at(where, key + '.profiles')} must be a list of strings, e.g. ['kv cache, MoE', "
                          "'mamba']: one profile goes in 'keywords'")


def check_subscribers(config: Config) -> None:
    """Every [[subscribers]] entry through the same checks as `notifier subscribe`, so a bad entry
    (or a second entry for the same person) fails here, naming the file, the line of the key
    refused and the entry."""
    from notifier.errors import InputError
    from notifier.subscribers import spec_subscriber

    seen: dict[str, int] = {}
    for i, spec in enumerate(config.subscribers):
        try:
            address = spec_subscriber(spec, config.schedule.timezone).address
        except InputError as err:
            raise ConfigError(f"{_entry(config, i, err.key)}: {err}") from None
        if address in seen:
            raise ConfigError(f"{_entry(config, i, 'address')}: the same subscriber as subscribers[{seen[address]}]")
        seen[address] = i


def _entry(config: Config, i: int, setting: str) -> str:
    """How a message names the I-th [[subscribers]] entry: 'FILE: line N: subscribers[I] (address)',
    N the line of the key that set SETTING (a ``new_subscriber`` setting: 'address' is the entry's
    'email' or 'slack'), else of the entry."""
    from notifier.profile import shown

    spec = config.subscribers[i]
    key = {"address": "email" if spec.email else "slack",
           "keywords": "keywords" if spec.keywords.strip() else "profiles"}.get(setting, setting)
    return f"{_where(config.path, f'subscribers[{i}].{key}')}: subscribers[{i}] ({shown(spec.email or spec.slack)})"


def validate(config: Config) -> None:
    where = config.path or "defaults"
    if config.email.security not in ("starttls", "tls", "none"):
        raise ConfigError(f"{_at(where, 'email.security')} must be starttls, tls or none, not {config.email.security!r}")
    if not TIME_RE.match(config.schedule.time):
        raise ConfigError(f"{_at(where, 'schedule.time')} must be HH:MM (24-hour), not {config.schedule.time!r}")
    _located(where, "schedule.timezone", check_timezone, config.schedule.timezone)
    if config.delivery.unknown_policy not in ("resend", "hold"):
        raise ConfigError(f"{_at(where, 'delivery.unknown_policy')} must be resend or hold, not {config.delivery.unknown_policy!r}")
    check_contact(config.general.contact, where)
    for key in BOUNDS:
        _located(where, key, check_bound, key, _get(config, key))
    for key in ("sources.hf_daily.base_url", "sources.arxiv.base_url", "sources.arxiv.api_url", "slack.api_url"):
        _located(where, key, check_http_url, _get(config, key))
    validate_sources(config.sources.arxiv, where)
    validate_addresses(config, where)
    validate_paths(config, where)
    validate_web(config.web, where)
    validate_secret_names(config, where)
    check_subscribers(config)


def check_contact(contact: str, where: str) -> None:
    """[general] contact, sent in every request's User-Agent header so that a source's operators can
    reach you: an e-mail address (as a subscriber's is checked) or an http(s) URL, or unset. 'ops'
    or 'me at example.org' reached nobody, and a line break would have added a header."""
    if contact and _channel(contact) != "email" and not _is_http_url(contact):
        raise ConfigError(f"{_at(where, 'general.contact')} must be an e-mail address or an http(s) URL (it is sent "
                          f"in the User-Agent header, so that the sources' operators can reach you), not {contact!r}")


def _is_http_url(text: str) -> bool:
    try:
        check_http_url(text, "")
    except ConfigError:
        return False
    return True


SECRET_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")     # a variable, or a file in $CREDENTIALS_DIRECTORY


def validate_secret_names(table, where: str, prefix: str = "") -> None:
    """Every ``*_env`` key names an environment variable or a systemd credential: no spaces (no shell
    can set it) and no path ('../key' would read a file outside $CREDENTIALS_DIRECTORY)."""
    for f in fields(table):
        value = getattr(table, f.name)
        if is_dataclass(value):
            validate_secret_names(value, where, f"{prefix}{f.name}.")
        elif f.name.endswith("_env") and value and not SECRET_NAME_RE.match(value):
            raise ConfigError(f"{_at(where, prefix + f.name)} must name an environment variable or "
                              f"credential (letters, digits, _ . -), not {value!r}")


def check_http_url(url: str, what: str, *, plain: bool = False) -> str:
    """An http(s) URL with a host, on one line and without spaces; ``plain``: without query or
    fragment too. ConfigError '<what> must be an http(s) URL ...' otherwise."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:                  # a port that is not a number or out of range, a bad [IPv6]
        ok = False
    ok = ok and url.startswith(("http://", "https://")) and not BLANK_OR_CONTROL.search(url)
    if not ok or (plain and re.search(r"[?#]", url)):
        raise ConfigError(f"{what} must be an http(s) URL{' without query' if plain else ''}, not {url!r}")
    return url


# arXiv's category taxonomy (https://arxiv.org/category_taxonomy): an archive's name alone (cs,
# hep-th) is its whole listing; ARCHIVE.SUB one category of it.
ARXIV_ARCHIVES = {
    "cs": "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS NA NE NI OH OS PF PL "
          "RO SC SD SE SI SY",
    "econ": "EM GN TH",
    "eess": "AS IV SP SY",
    "math": "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR QA RA RT SG SP ST",
    "astro-ph": "CO EP GA HE IM SR",
    "cond-mat": "dis-nn mes-hall mtrl-sci other quant-gas soft stat-mech str-el supr-con",
    "nlin": "AO CD CG PS SI",
    "physics": "acc-ph ao-ph app-ph atm-clus atom-ph bio-ph chem-ph class-ph comp-ph data-an ed-ph flu-dyn gen-ph "
               "geo-ph hist-ph ins-det med-ph optics plasm-ph pop-ph soc-ph space-ph",
    "q-bio": "BM CB GN MN NC OT PE QM SC TO",
    "q-fin": "CP EC GN MF PM PR RM ST TR",
    "stat": "AP CO ME ML OT TH",
    **dict.fromkeys(("gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph", "nucl-ex", "nucl-th", "quant-ph"), ""),
}
ARXIV_CATEGORIES = {*ARXIV_ARCHIVES, *(f"{a}.{sub}" for a, subs in ARXIV_ARCHIVES.items() for sub in subs.split())}


def arxiv_category_error(category: str) -> str | None:
    """What is wrong with a `[sources.arxiv] categories` entry (cs.LG, hep-th, or several joined by
    '+': cs.LG+cs.AI), or None: a name that is not arXiv's, with the one meant when it is close
    (cs.lg: did you mean cs.LG?). A wrong one fetched an empty listing each day, unnoticed."""
    import difflib

    for part in category.split("+"):
        if part in ARXIV_CATEGORIES:
            continue
        meant = ([c for c in ARXIV_CATEGORIES if c.lower() == part.lower()]     # not cs.SY for cs.XY:
                 or difflib.get_close_matches(part, ARXIV_CATEGORIES, n=1, cutoff=0.85))   # 0.8 is one letter of 5
        return (f"{part!r} is no arXiv category" + (f": did you mean {meant[0]}?" if meant else
                                                     ": use arXiv's names, e.g. cs.LG or hep-th"))
    return None


def validate_sources(arxiv: ArxivSource, where: str) -> None:
    """arXiv categories from its taxonomy (cs.LG, hep-th, cs.LG+cs.AI), at least one when enabled."""
    bad = next((error for error in map(arxiv_category_error, arxiv.categories) if error), None)
    if bad:
        raise ConfigError(f"{_at(where, 'sources.arxiv.categories')}: {bad}")
    if arxiv.enabled and not arxiv.categories:
        raise ConfigError(f"{_at(where, 'sources.arxiv.categories')} is empty while [sources.arxiv] is enabled: "
                          "name at least one, e.g. [\"cs.LG\"]")


ANY_SLACK_USER = "users"     # in [web] slack_targets: a visitor may subscribe any Slack user id (a DM)


def one_spelling(config: Config) -> None:
    """Values written more than one way, as a subscriber's are read: [alerts] slack and [web]
    slack_targets as a Slack target is stored (subscribers.canonical_address: "#Ops" is the channel
    #ops, not a typo), [schedule] time "7:30" as 07:30 (subscribers.zero_padded)."""
    from notifier.subscribers import canonical_address, zero_padded

    config.alerts.slack = canonical_address(config.alerts.slack)
    config.web.slack_targets = [canonical_address(t) for t in config.web.slack_targets]
    config.schedule.time = zero_padded(config.schedule.time)


def validate_addresses(config: Config, where: str) -> None:
    """The sender, the alert targets and the mailto: the same checks as a subscriber's address,
    so a typo is named here and not met when the first digest or alert goes out."""
    from email.utils import parseaddr

    sender = config.email.from_
    if re.search(r"[\r\n]", sender) or not re.fullmatch(r"[^@\s]+@[^@\s]+", parseaddr(sender)[1]):
        raise ConfigError(f"{_at(where, 'email.from')} must be an address, e.g. \"Digests <papers@example.org>\", "
                          f"not {sender!r}")
    if BLANK_OR_CONTROL.search(config.email.host):
        raise ConfigError(f"{_at(where, 'email.host')} must be a host name, not {config.email.host!r}")
    targets = [("alerts.email", config.alerts.email, "email"), ("alerts.slack", config.alerts.slack, "slack"),
               ("email.unsubscribe_mailto", config.email.unsubscribe_mailto, "email")]
    targets += [("web.slack_targets", t, "slack") for t in config.web.slack_targets if t != ANY_SLACK_USER]
    for key, value, channel in targets:
        if value and _channel(value) != channel:
            kind = "an e-mail address" if channel == "email" else "a Slack target (#channel, C…, U…)"
            raise ConfigError(f"{_at(where, key)} must be {kind}, not {value!r}{_channel_meant(value, channel)}")


def _channel_meant(value: str, channel: str) -> str:
    """': did you mean '#ops'?' for a Slack channel written without its '#' ('ops'), else ''."""
    from notifier.subscribers import canonical_address

    meant = canonical_address("#" + value)
    return f": did you mean {meant!r}?" if channel == "slack" and _channel(meant) == "slack" else ""


def validate_paths(config: Config, where: str) -> None:
    """Files the configuration names must be there: a missing template folder would otherwise
    fall back to the bundled templates unnoticed, a missing CA bundle fail the first send."""
    for key, is_kind, kind in (("general.template_dir", os.path.isdir, "folder"), ("email.ca_file", os.path.isfile, "file")):
        value = _get(config, key)
        if value and not is_kind(Path(value).expanduser()):
            raise ConfigError(f"{_at(where, key)} names no {kind}: {value!r}")


def _channel(address: str) -> str | None:
    from notifier.errors import InputError
    from notifier.subscribers import channel_of

    try:
        return channel_of(address)
    except InputError:
        return None


def _get(config: Config, dotted: str):
    obj = config
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _number(x: float) -> str:
    """1000000000, not 1e+09; 0.4 as 0.4."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def check_bound(key: str, value: float | None, what: str) -> float | None:
    """None (unset) or a number within BOUNDS[key]; ConfigError '<what> must be between ...'."""
    low, high = BOUNDS[key]
    if value is not None and not low <= value <= high:      # also refuses nan and ±inf
        raise ConfigError(f"{what} must be between {_number(low)} and {_number(high)}{HINTS.get(key, '')}, "
                          f"not {_number(value)}")
    return value


# ----------------------------------------------------------------------------- [web]
def validate_web(web: Web, where: str) -> None:
    _located(where, "web.listen", listen_address, web.listen)
    if web.public_url:
        _located(where, "web.public_url", check_http_url, web.public_url, plain=True)
    for key in ("limit_per_address", "limit_per_client"):
        if not re.match(r"^[0-9]+\s*/\s*(second|minute|hour|day)\Z", getattr(web, key)):
            raise ConfigError(f"{_at(where, 'web.' + key)} must look like '3/hour' (per second, minute, hour or day)")


def listen_address(listen: str, what: str = "'web.listen'") -> tuple[str, int]:
    """'host:port' -> (host, port); '[::1]:8080' for IPv6. ConfigError '<what> must be host:port ...'."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or BLANK_OR_CONTROL.search(host) or not re.fullmatch(r"[0-9]+", port):
        raise ConfigError(f"{what} must be host:port, e.g. 127.0.0.1:8080, not {listen!r}")
    if not 0 < int(port) < 65536:
        raise ConfigError(f"{what} port {int(port)} is out of range: use 1 to 65535")
    return host.strip("[]"), int(port)


def check_threshold(value: float | None, what: str) -> float | None:
    """None (the matcher's default) or a share of the profile's top score within THRESHOLD_RANGE."""
    return check_bound("matching.threshold", value, what)


def check_database_url(url: str, what: str) -> str:
    """'' (the default SQLite file) or a URL of a database we support, so a typo is named here and
    not met as a traceback when the first command opens the database."""
    if url and not DATABASE_URL_RE.match(url):
        shown = re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", url)
        raise ConfigError(f"{what} must be sqlite:///PATH (three slashes, then the file; sqlite:////abs/path) "
                          f"or postgresql+psycopg://USER@HOST/DATABASE, not {shown!r}")
    return url


def check_timezone(name: str, what: str = "") -> ZoneInfo:
    """The zone ``name``; ConfigError 'WHAT: unknown time zone ...' (no WHAT beside a form's field),
    with the zones probably meant (``zones_named``) when there are some."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):      # OSError: a name too long for a file name
        meant = zones_named(name)
        advice = f": did you mean {' or '.join(meant)}?" if meant else " (use an IANA name such as Europe/Berlin)"
        raise ConfigError((f"{what}: " if what else "") + f"unknown time zone {name!r}{advice}") from None


def zones_named(text: str) -> list[str]:
    """The IANA zones someone probably meant by a city or a name in other capitals ('berlin',
    'new york', 'europe/paris', 'utc'): the zones whose name, or its last part, is that; else, for
    a Region/City, those spelled nearly alike ('Europe/Berln'); at most 3. Never Etc/GMT+2 for
    'GMT+2': its sign is the other way round (it is UTC-2)."""
    import difflib
    import zoneinfo

    key = text.strip().replace(" ", "_").lower()
    zones = {z.lower(): z for z in zoneinfo.available_timezones()}
    named = sorted(z for low, z in zones.items() if key == low
                   or (key == low.rsplit("/", 1)[-1] and not re.match(r"etc/gmt[+-]", low)))[:3]
    if named or "/" not in key:             # 'CEST' is not a misspelt 'EST'
        return named
    return [zones[low] for low in difflib.get_close_matches(key, sorted(zones), n=3, cutoff=0.85)]


def read_secret(env_name: str, env: dict | None = None) -> str | None:
    """A secret from the environment, else from systemd's ``$CREDENTIALS_DIRECTORY/<env_name>``;
    every secret read is remembered by the logs, which print it as ``[redacted]``."""
    return redact_value(_secret_text(env_name, os.environ if env is None else env))


def _secret_text(env_name: str, env: dict) -> str | None:
    if not env_name:
        return None
    if env.get(env_name):
        return env[env_name]
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / env_name
        if path.is_file():
            try:
                return path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as err:
                raise ConfigError(f"{path}: cannot read the credential {env_name}: "
                                  f"{getattr(err, 'strerror', None) or 'not UTF-8 text'}") from None
    return None


def require_secrets(config: Config, env: dict | None = None) -> Config:
    """``config`` for a command that sends (run, serve), or a one-line error when [email] logs in
    (host and username set) and its password is not set here: every e-mail would fail at login,
    after the fetch, with attempts used up."""
    e = config.email
    if e.host and e.username and not read_secret(e.password_env, env):
        raise ConfigError(f"{config.path or 'defaults'}: 'email.password_env': ${e.password_env} is not set (nor "
                          f"$CREDENTIALS_DIRECTORY/{e.password_env}); the SMTP login as {e.username!r} needs it")
    return config


def warn_unsubscribe_missing(config, env: dict | None = None,
                             first: typing.Callable[[str], bool] = lambda what: True) -> bool:
    """Log ``unsubscribe_missing``'s WARNING, for a command about to send (run, serve), if ``first(event)``
    (a timer's `run`: the first of the day). -> whether digests go out without the link."""
    missing = unsubscribe_missing(config, env)
    if missing and first(missing[0]):
        event(logging.getLogger("notifier.config"), missing[0], logging.WARNING, text=missing[1])
    return bool(missing)


def unsubscribe_missing(config, env: dict | None = None) -> tuple[str, str] | None:
    """(event, text) when digests mailed over SMTP would carry no unsubscribe link and no
    List-Unsubscribe header (Gmail and Yahoo ask bulk senders for a one-click one), or links
    without one-click (an http public_url: RFC 8058 asks for https, ``email.one_click``); else None."""
    e, w = config.email, config.web
    base = w.public_url or config.general.public_url
    linked = bool(base) and bool(read_secret(w.secret_env, env))
    if e.host and linked and base.lower().startswith("http://"):
        return "no one-click unsubscribe", (f"public_url {base!r} is http: digests carry its unsubscribe link but no "
                                            "one-click unsubscribe (RFC 8058 needs https; Gmail and Yahoo ask bulk "
                                            "senders for it)")
    if not e.host or e.unsubscribe_mailto or linked:
        return None
    return "no unsubscribe link", (f"email digests go out without an unsubscribe link: set [web] public_url and "
                                   f"{w.secret_env} (one-click links, which Gmail and Yahoo ask of bulk senders) "
                                   "or [email] unsubscribe_mailto")


def redacted(config: Config) -> dict:
    """The effective configuration as a dict, for `notifier config` (secrets are never in it)."""
    from dataclasses import asdict

    data = asdict(config)
    del data["path"]                # where it was read from, no key of the file (`notifier config` says it apart)
    data["database"]["url"] = re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", config.database_url)
    data["general"]["state_dir"] = str(config.state_dir)
    data["email"] = {("from" if k == "from_" else k): v for k, v in data["email"].items()}   # the file's key
    return data
