"""What one command run, or the daemon between reloads, works with: the config, the store, the
clock, the fetcher and the matcher (``Context``), opened by ``open_context``, which first writes
the config file's subscribers to the store when they changed."""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Iterator

from notifier.config import Config
from notifier.store import Store

if TYPE_CHECKING:
    from notifier.match import Matcher


@dataclass
class Context:
    config: Config
    store: Store
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    progress: bool = False
    fetcher: object = None              # made from the config on first use (fetcher_of); tests may set their own

    @cached_property
    def matcher(self) -> Matcher:
        """The background and the indexes, shared by a batch's subscribers. Made on first use:
        numpy and the stemmer load then, not in `status` or `subscribers` (0.2 s of each)."""
        from notifier.match import Matcher

        return Matcher(self.store.recent_papers)

    def now(self) -> datetime:
        return self.clock()


@contextmanager
def open_context(config: Config, *, progress: bool = False) -> Iterator[Context]:
    store = Store(config.database_url)
    ctx = Context(config=config, store=store, progress=progress)
    try:
        sync_config_subscribers(ctx)
        yield ctx
    finally:
        if ctx.fetcher is not None:
            ctx.fetcher.close()
        store.close()


def sync_config_subscribers(ctx: Context) -> None:
    """Subscribers declared in the config file win over the CLI for the same address: their
    profile and settings are written to the store when the file's subscribers (or the default
    zone they fall back to) changed since they were last applied, or when one of them was changed
    in the store meanwhile (e.g. `notifier edit`); CLI-only ones are untouched. Applying 10,000
    at every start of every command took 45 s; checking the fingerprint takes milliseconds."""
    from notifier.subscribers import SETTINGS, spec_subscriber, written

    wanted_key = _config_subscribers_fingerprint(ctx.config)
    if ctx.store.setting(CONFIG_SUBSCRIBERS_KEY) == f"{wanted_key} {ctx.store.subscribers_version('config')}":
        return
    wanted = [written(spec_subscriber(spec, ctx.config.schedule.timezone)) for spec in ctx.config.subscribers]
    ctx.store.upsert_subscribers(wanted, SETTINGS + ("origin",))
    # Recorded after the rows are written: a start that dies in between applies them again.
    ctx.store.put_setting(CONFIG_SUBSCRIBERS_KEY, f"{wanted_key} {ctx.store.subscribers_version('config')}")

CONFIG_SUBSCRIBERS_KEY = "config_subscribers"


def _config_subscribers_fingerprint(config: Config) -> str:
    import hashlib
    from dataclasses import asdict

    specs = [asdict(spec) for spec in config.subscribers]
    text = json.dumps([config.schedule.timezone, specs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
