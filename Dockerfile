# The image of the API and the workers (compose.yaml): the `leadminer` command with the core,
# the IMAP fetcher, the self-host runner and the HTTP API, installed from this checkout.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update -q && apt-get install -y -q --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# leadminer-core (shared/) is built from the checkout: its wheel carries ../schemas
RUN pip wheel --no-cache-dir --wheel-dir /wheels ./shared .

FROM python:3.11-slim-bookworm
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels leadminer leadminer-core && rm -rf /wheels \
    && useradd --system --home-dir /var/lib/leadminer --create-home leadminer \
    && install -d -o leadminer -g leadminer /var/spool/leadminer
USER leadminer
WORKDIR /var/lib/leadminer
ENV PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["leadminer", "api", "--host", "0.0.0.0", "--port", "8000"]
