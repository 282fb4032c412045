"""Customer surveys (CSAT, CES, NPS) and the follow-up after a resolution.

- :mod:`bot.surveys.plan`: what is asked when, from ``surveys:`` in config.yml (pure);
- :mod:`bot.surveys.asking`: put a survey to a customer inside the caller's transaction,
  or decline (opted out, throttled, asked about this already);
- :mod:`bot.surveys.answers`: a pressed button counts once; a low score's comment;
- :mod:`bot.surveys.jobs`: the periodic work (customers who left after an answer,
  follow-ups N days after a resolution, NPS rounds), once per cluster.
"""
