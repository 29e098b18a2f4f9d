# The animal_challenge image: the REST API (default command) and the dashboard (`animal-challenge dashboard`).
#   docker build -t animal-challenge .
#   docker run --rm -p 8000:8000 -e ANIMAL_CHALLENGE_DATA_SERVICE_URL=http://host:8777 animal-challenge
# Configuration by environment only: the ANIMAL_CHALLENGE_* variables listed in the README.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY settings.ini setup.py README.md constraints.txt ./
COPY animal_challenge ./animal_challenge
# Exactly the versions the tests passed with; a regular (non-editable) install, so /src is not needed afterwards.
RUN pip install --no-cache-dir --constraint constraints.txt . \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/app --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data

WORKDIR /home/app
USER 10001:10001

# Listen on all interfaces inside the container; keep the model folder and the history in the /data volume.
ENV ANIMAL_CHALLENGE_HOST=0.0.0.0 \
    ANIMAL_CHALLENGE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000 8866

# The slim image has no curl: check with the standard library, on the API's cheap liveness endpoint.
# (The dashboard service overrides this check in docker-compose.yml.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('ANIMAL_CHALLENGE_API_PORT', '8000'), timeout=4)"]

CMD ["animal-challenge", "api", "--train-if-empty"]
