"""`notifier status`: exit 0 when all is well, 3 when something needs the operator."""
from notifier.commands import context

ATTENTION = 3


def add_arguments(p):
    pass


def run(args) -> int:
    attention = False
    with context(args) as ctx:
        st = ctx.store
        print("Sources:")
        sources = st.fetch_sources()
        if not sources:
            print("  no fetch yet")
        for source in sources:
            ok = st.last_fetch(source)
            bad = st.last_fetch(source, outcome="failed")
            latest_failed = bad is not None and (ok is None or bad.id > ok.id)
            attention |= latest_failed
            print(f"  {source:<12} last ok: " + (f"{ok.finished_at:%Y-%m-%d %H:%M} (day {ok.digest_day}, {ok.new} new"
                                              + (f", {ok.skipped} malformed skipped ({ok.error})" if ok.skipped else "") + ")"
                                              if ok else "never")
                  + (f"; FAILING since {bad.started_at:%Y-%m-%d %H:%M}: {bad.error}" if latest_failed else ""))
        print("Subscribers:")
        for sub in st.list_subscribers():
            last = st.last_delivery(sub.id)
            print(f"  {sub.address:<28} last sent: " + (f"{last.sent_at:%Y-%m-%d %H:%M} ({last.digest_day})" if last and last.sent_at else "never"))
        problems = st.deliveries(states=("pending", "sending", "retry", "failed", "unknown"))
        print("Deliveries:" + ("" if problems else " nothing pending or failed"))
        subs = {s.id: s.address for s in st.list_subscribers(active_only=False)}
        for d in problems:
            attention |= d.state in ("failed", "unknown")
            when = f", next try {d.next_attempt_at:%Y-%m-%d %H:%M}" if d.next_attempt_at else ""
            print(f"  {d.state:<8} {subs.get(d.subscriber_id)} {d.digest_day} (attempts {d.attempts}{when})"
                  + (f": {d.last_error}" if d.last_error else ""))
    return ATTENTION if attention else 0
