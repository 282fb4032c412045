"""The message pipeline: one inbound message in, replies stored and sent out.

``pipeline.Engine`` runs each turn as five small steps, one module each: ``gate``
(store once; resolved and human-owned chats), ``understand`` (language, NLU or command,
frustration signs, the one decision), ``decide`` (dialogue, follow-ups, frustration,
NLU outage), ``dispatch`` (one intent handler) and ``outbox`` (store, then send);
``answer`` is the transaction that holds decide and dispatch, ``locks`` keeps each
conversation's turns in order, ``turn`` holds the values passed between the steps.
"""
