# One image for operators: migrations, then the server on 0.0.0.0:3001.
# The install steps mirror scripts/_venv.sh (pip install -e ".[extras]"); the
# image adds the production extras: S3 storage and Twilio SMS.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NODE_ENV=production \
    CHATR_DATA_DIR=/data \
    UPLOADS_DIR=/data/uploads \
    PORT=3001

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 chatr \
    && mkdir -p /data && chown chatr:chatr /data

WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY chatr_server ./chatr_server
COPY sql ./sql
COPY conf ./conf
RUN pip install -e ".[s3,sms]"

USER chatr
EXPOSE 3001
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/api/health" || exit 1

CMD ["sh", "-c", "python -m chatr_server migrate && exec python -m chatr_server serve --host 0.0.0.0"]
