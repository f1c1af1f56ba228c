import json

from notifier.alerts import edit_command
from notifier.commands import bring_back, context, find_subscriber, max_items_help, named, note_declared, option
from notifier.errors import InputError
from notifier.subscribers import new_subscriber, own_name, settings_of, stored_profiles


def add_arguments(p):
    p.add_argument("subscriber", metavar="SUBSCRIBER", help="address, name or id")
    p.add_argument("-k", "--keywords", action="append", metavar="TEXT", help="replace the profile(s)")
    p.add_argument("--add-keywords", action="append", metavar="TEXT", help="add another profile")
    p.add_argument("--name", help="display name")
    p.add_argument("--timezone", metavar="ZONE", help="IANA time zone, e.g. Europe/Berlin")
    p.add_argument("--time", metavar="HH:MM", help="local delivery time")
    p.add_argument("--frequency", help="daily, weekly or weekly:DAY (mon..sun)")
    p.add_argument("--max-items", type=int, metavar="N", help=max_items_help(""))
    p.add_argument("--threshold", type=float, metavar="SHARE",
                   help="share of the day's best match a paper must score to be sent, 0.05-0.95: "
                        "lower sends more papers, higher fewer")
    pausing = p.add_mutually_exclusive_group()
    pausing.add_argument("--pause", action="store_true", help="stop deliveries, keep the subscriber")
    pausing.add_argument("--resume", action="store_true", help="resume deliveries")
    p.set_defaults(usage_error=p.error)


CHANGES = ("keywords", "add_keywords", "name", "timezone", "time", "frequency", "max_items", "threshold",
           "pause", "resume")


def given(args, option: str) -> bool:
    value = getattr(args, option)
    return value is not None and value is not False     # 0 is a value


def nothing_to_change(args) -> bool:
    return not any(given(args, option) for option in CHANGES)


def run(args) -> int:
    if nothing_to_change(args):         # exits 2, as argparse does for any other usage error
        args.usage_error("nothing to change: give one or more of "
                         + ", ".join("--" + option.replace("_", "-") for option in CHANGES))
    with context(args) as ctx:
        sub = find_subscriber(ctx, args.subscriber)
        if not sub.active:              # --resume would bring them back unasked
            raise InputError(f"{named(sub)} has unsubscribed; {bring_back(sub)}")
        changes = changed_settings(sub, args)
        pausing = (args.pause or args.resume) and sub.paused != args.pause
        if changes:
            ctx.store.update_subscriber(sub.id, **changes)
        if pausing:
            ctx.store.set_paused(sub.id, paused=args.pause)   # a queued digest waits while paused
        if changes or pausing:
            note_declared(ctx, sub)
        changed = what_changed(sub, changes)      # none when only a webhook URL stored as a name was forgotten
        print(done(sub, changed, args.pause if pausing else None) if changed or pausing else nothing_changed(sub, args))
    return 0


def nothing_changed(sub, args) -> str:
    """'nothing changed: X has these settings already', 'X is paused already', 'X is not paused'."""
    settings = any(given(args, option) for option in CHANGES if option not in ("pause", "resume"))
    if not (args.pause or args.resume):
        return f"nothing changed: {named(sub)} has these settings already"
    state = "is paused" if args.pause else "is not paused"
    tail = " and has these settings already" if settings else " already" if args.pause else ""
    return f"nothing changed: {named(sub)} {state}{tail}"


def done(sub, changed: list[str], paused: bool | None) -> str:
    """What an edit did: 'updated X: time 07:30 -> 08:00', 'paused X: ...', 'resumed X', or both
    ('updated and paused X: time 07:30 -> 08:00; their digests wait ...')."""
    verbs = (["updated"] if changed else []) + ([] if paused is None else ["paused" if paused else "resumed"])
    until = f"their digests wait until {edit_command(sub.address, sub.id, '--resume')}" if paused else ""
    said = "; ".join(filter(None, [", ".join(changed), until]))
    return f"{' and '.join(verbs)} {named(sub)}" + (f": {said}" if said else "")


def what_changed(sub, changes: dict) -> list[str]:
    """Each setting an edit changes, as 'time 07:30 -> 08:00' (the profiles: added and removed)."""
    was, now = settings_shown(sub), settings_shown(sub, changes)
    said = [setting_changed(sub, key, was[key], now[key]) for key in was if key != "profiles" and was[key] != now[key]]
    return profiles_changed(stored_profiles(sub), json.loads(changes.get("profile", sub.profile))) + said


def setting_changed(sub, key: str, was: str, now: str) -> str:
    """'time 07:30 -> 08:00'; a name cleared: "name 'Ada' cleared: ada@example.org is shown instead"
    (it read "name 'Ada' -> 'ada@example.org'", the address stored in its place)."""
    if key == "name" and now == NO_NAME:
        return f"name {was} cleared: {named(sub)} is shown instead"
    return f"{key} {was} -> {now}"


NO_NAME = "none"


def settings_shown(sub, changes: dict | None = None) -> dict:
    """The settings as an edit's line names them: option name -> value as typed (no name: the
    address ``new_subscriber`` stores in its place, or a webhook URL stored before session 31)."""
    value = (lambda key: (changes or {}).get(key, getattr(sub, key)))
    weekday, name = value("weekday"), own_name(value("name"))
    return {"profiles": value("profile"), "name": f"'{name}'" if name and name != sub.address else NO_NAME,
            "timezone": value("timezone"), "time": value("delivery_time"),
            "frequency": value("frequency") + (f":{weekday}" if weekday else ""),
            "max-items": value("max_items") or "default", "threshold": value("threshold") or "default"}


def profiles_changed(old: list[str], new: list[str]) -> list[str]:
    """'added profile 'rl'', 'removed profile 'agents''."""
    from notifier.profile import shown

    return ([f"added profile '{shown(p)}'" for p in new if p not in old]
            + [f"removed profile '{shown(p)}'" for p in old if p not in new])


def changed_settings(sub, args) -> dict:
    """The settings the options change, checked as `notifier subscribe` checks them: column -> new value."""
    if not args.keywords:
        check_stored(sub)
    profiles = (args.keywords or stored_profiles(sub)) + (args.add_keywords or [])
    checked = new_subscriber(address=sub.address, keywords=profiles, kept=stored_profiles(sub), named=option,
                             **stored_or_given(sub, args))
    return {k: v for k, v in settings_of(checked, without=("channel",)).items() if getattr(sub, k) != v}


def stored_or_given(sub, args) -> dict:
    """``new_subscriber``'s settings (the profiles aside): each option given, else as ``sub`` has it."""
    return dict(name=sub.name if args.name is None else args.name,
                timezone=sub.timezone if args.timezone is None else args.timezone,
                time=sub.delivery_time if args.time is None else args.time,
                frequency=(f"{sub.frequency}:{sub.weekday}" if sub.weekday else sub.frequency)
                if args.frequency is None else args.frequency,
                max_items=args.max_items if args.max_items is not None else sub.max_items,
                threshold=args.threshold if args.threshold is not None else sub.threshold)


def check_stored(sub, fix: str = "") -> None:
    """InputError when a stored profile no longer reads (a newer version reads profiles more
    strictly; `notifier status` names it): a change that keeps it cannot be stored, nor a digest
    previewed; --keywords replaces it (``fix``: the command that does, when not `notifier edit`)."""
    from notifier.errors import ProfileError
    from notifier.profile import parse_profile, shown

    for text in stored_profiles(sub):
        try:
            parse_profile(text)
        except ProfileError as err:
            raise InputError(f"{named(sub)}: the stored profile '{shown(text)}' no longer reads ({err}); "
                             f"{fix or edit_command(sub.address, sub.id, '--keywords TEXT') + ' replaces it'}") from None
