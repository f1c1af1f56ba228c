"""`notifier web`: the self-service pages (subscribe, confirm, manage, unsubscribe, votes).

tokens.py signs what a link may do; links.py builds the links a digest carries; app.py is the
Starlette app; forms.py checks what a form says, field by field; tester.py answers "what
would this profile have sent"; security.py holds the middleware (headers, body size, CSRF).
"""
