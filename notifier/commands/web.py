"""`notifier web`: serve the self-service pages with uvicorn on [web] listen."""


def add_arguments(p):
    p.add_argument("--listen", metavar="HOST:PORT", help="override [web] listen (default 127.0.0.1:8080)")


def run(args) -> int:
    import uvicorn

    from notifier.commands import load
    from notifier.config import listen_address
    from notifier.logs import event
    from notifier.web.app import create_app, log

    config = load(args)
    host, port = listen_address(args.listen or config.web.listen, "--listen" if args.listen else config.path)
    app = create_app(config)
    event(log, "web listening", host=host, port=port, public_url=app.web.base or "(unset)")
    try:
        uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="warning", access_log=False,
                    forwarded_allow_ips=config.web.forwarded_allow_ips, server_header=False, date_header=True)
    finally:
        app.web.close()
    return 0
