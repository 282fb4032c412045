"""The composition root's pieces, one domain each; ``bot.app`` puts them together.

``helpdesk`` (the engine and what it needs, started and stopped together), ``nlu`` (the
model, the client, the knowledge-base watcher), ``channels`` (the customer channels and
their routes), ``email`` (survey links, ticket notices by email, the survey page),
``desk`` (the desk, tickets, the survey job, the Slack desk) and ``web`` (``helpdesk
run``'s ASGI app). They sit at the app's layer: nothing below imports them.
"""
