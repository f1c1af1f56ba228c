"""`notifier web`: serve the self-service pages with uvicorn on [web] listen."""
from __future__ import annotations

import logging


def add_arguments(p):
    p.add_argument("--listen", metavar="HOST:PORT", help="override [web] listen (default 127.0.0.1:8080)")
    p.add_argument("--no-access-log", action="store_true", help="log no line per request (method, path, status, ms)")


def run(args) -> int:
    import uvicorn

    from notifier.commands import load
    from notifier.config import listen_address
    from notifier.logs import event
    from notifier.web.app import create_app, log

    config = load(args)
    host, port = listen_address(args.listen, "--listen") if args.listen else listen_address(config.web.listen)
    app = create_app(config, access_log=not args.no_access_log)
    try:
        sock = listening(host, port)
        event(log, "web listening", host=host, port=port, public_url=app.web.base or "(unset)")
        if not config.email.host:       # else a visitor waits for a confirmation mail that never comes
            event(log, "no SMTP host", logging.WARNING, text=f"the pages' mails (confirmation, settings link) "
                  f"are written to {config.outbox_dir}, not sent: set [email] host")
        server = uvicorn.Server(uvicorn.Config(                 # its log lines go through ours (log_config=None)
            app, proxy_headers=True, log_level="warning", log_config=None, access_log=False, server_header=False,
            date_header=True, forwarded_allow_ips=config.web.forwarded_allow_ips))
        logging.getLogger("uvicorn.error").addFilter(answered_once)
        server.run(sockets=[sock])
    finally:
        app.web.close()
    return 0


def answered_once(record: logging.LogRecord) -> bool:
    """Drops uvicorn's "Exception in ASGI application" for an error the app answered with its 500
    page and logged already ("web request failed"): the operator read each failure twice, the
    second time as a traceback of 60 lines."""
    err = record.exc_info[1] if record.exc_info else None
    return not getattr(err, "answered_by_web", False)


def listening(host: str, port: int):
    """A socket listening on host:port, or InputError in one line: uvicorn, left to bind it, logged
    the reason its own way and exited 3 (the code `notifier status` gives when something needs
    attention)."""
    import socket

    from notifier.errors import InputError

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)    # as uvicorn does: a restart binds at once
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as err:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return sock
