# The animal_challenge image: the REST API (default command) and the dashboard (`animal-challenge dashboard`).
#   docker build -t animal-challenge .
#   docker run --rm -p 8000:8000 -e ANIMAL_CHALLENGE_DATA_SERVICE_URL=http://host:8777 animal-challenge
# Configuration by environment only: the ANIMAL_CHALLENGE_* variables listed in the README.
#
# Behind a proxy that intercepts TLS, pass its CA certificate (PEM) as a BuildKit secret: pip trusts it for this
# build only, and it never lands in a layer or in the image.
#   docker build --secret id=ca,src=/path/to/proxy-ca.pem -t animal-challenge .
#
# Two stages: `build` installs the runtime requirements (settings.ini `requirements`, never the dev tools) with the
# pinned versions into /opt/venv and takes out what serving never reads; the image copies that venv and tini, nothing
# else of the build.

# Python >= 3.11.5: the pins in constraints.txt need it (soupsieve); settings.ini's min_python says the same.
FROM python:3.11.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.* binutils=2.40-* \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY settings.ini setup.py README.md constraints.txt ./
COPY animal_challenge ./animal_challenge
# Exactly the versions the tests passed with; a regular (non-editable) install, so /src is not needed afterwards.
# The dependencies' own test suites go (~110 MB with their bytecode).
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then cat /etc/ssl/certs/ca-certificates.crt /run/secrets/ca > /tmp/ca.pem \
        && export PIP_CERT=/tmp/ca.pem; fi \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-compile --constraint constraints.txt . \
    && rm -f /tmp/ca.pem \
    && find /opt/venv/lib -depth -type d \( -name tests -o -name test \) -exec rm -rf {} +
# What serving never reads goes too (measured with podman: the venv 677 -> ~460 MB): pip (sqlite-utils needs it for its
# `install` command only), polyfactory and faker (litestar imports them only with OpenAPIConfig(create_examples=True),
# which the API does not set), type stubs, JavaScript source maps, C and Cython sources, and the extension modules'
# symbol tables (strip --strip-unneeded; the libraries auditwheel vendored in *.libs stay as they are). Bytecode is
# written only for what serving imports (the API, training, Voila and the dashboard's kernel), by importing it: 68 MB
# instead of 141 MB for every module, and the starts do not compile it again (~1.5 s of CPU for the API); a module
# outside that list compiles in memory when something imports it. Those imports also fail the build if anything
# serving imports needs what was taken out.
RUN PIP_PYTHON=/opt/venv/bin/python pip uninstall --yes pip polyfactory faker \
    && find /opt/venv -type f \( -name '*.pyi' -o -name '*.map' -o -name '*.c' -o -name '*.pyx' -o -name '*.pxd' \) -delete \
    && find /opt/venv -type f \( -name '*.so' -o -name '*.so.*' \) ! -path '*.libs/*' -exec strip --strip-unneeded {} + \
    && PYDEVD_DISABLE_FILE_VALIDATION=1 /opt/venv/bin/python -c "import importlib, pkgutil, animal_challenge as p; \
[importlib.import_module(m) for m in [i.name for i in pkgutil.walk_packages(p.__path__, 'animal_challenge.')] \
+ 'voila.app ipykernel_launcher ipykernel.kernelapp ipykernel.debugger IPython.core.completerlib skops.io \
matplotlib_inline.backend_inline matplotlib.pyplot httpx httpcore anyio._backends._asyncio swagger_ui uvicorn.loops.auto \
uvicorn.loops.uvloop uvicorn.protocols.http.auto uvicorn.protocols.websockets.auto uvicorn.lifespan.on'.split()]"

FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/app --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data

# tini is PID 1: it passes SIGTERM on to the server from the first instant (PID 1 itself ignores signals it has no
# handler for yet, so `docker stop` used to wait 10 s for SIGKILL) and reaps the dashboard's exited kernels.
COPY --from=build /usr/bin/tini /usr/bin/tini
COPY --from=build /opt/venv /opt/venv
COPY deploy/healthcheck.py /usr/local/bin/healthcheck.py

WORKDIR /home/app
USER 10001:10001

# Listen on all interfaces inside the container; keep the model folder and the history in the /data volume.
ENV ANIMAL_CHALLENGE_HOST=0.0.0.0 \
    ANIMAL_CHALLENGE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000 8866

# The slim image has no curl: the check is Python's standard library, on the port the settings give the server that
# the container runs (the API's /health, or a static file of the dashboard's; never its page, which starts a kernel).
# docker-compose.yml adds start_interval (Docker >= 25), so that a starting container is checked every few seconds.
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "/usr/local/bin/healthcheck.py"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["animal-challenge", "api", "--train-if-empty"]
