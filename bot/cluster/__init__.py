"""What lets several ``helpdesk run`` workers serve one deployment (``cluster.enabled``).

- :mod:`bot.cluster.locks`: PostgreSQL advisory locks held on one connection per worker;
  a conversation's turns take its lock, so they never overlap across workers, and a worker
  killed mid-turn lets go at once (its database session ends with it);
- :mod:`bot.cluster.leader`: one worker, the leader, runs the periodic jobs;
- :mod:`bot.cluster.relay`: the desk's live events and small notices on Redis pub/sub.

With ``cluster.enabled`` off (one process, SQLite allowed) none of this runs: the
in-process line (:mod:`bot.engine.locks`) and event bus (:mod:`bot.events`) suffice.
"""
