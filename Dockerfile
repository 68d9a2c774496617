# One image for operators: migrations, then the server on 0.0.0.0:3001.
# The package is installed like any user would (`pip install .`, not editable):
# the SQL, templates and static files travel inside it, so the image keeps no
# source tree. The image adds the production extras: S3 storage and Twilio SMS.
# scripts/image_check.sh repeats these steps without a container daemon; keep
# the two in step (extras, user, environment, command).
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

# Only what the wheel is built from (.dockerignore keeps the rest of a checkout out).
COPY setup.cfg pyproject.toml README.md /src/
COPY chatr_server /src/chatr_server
COPY sql /src/sql
RUN pip install "/src[s3,sms]" && rm -rf /src
COPY conf /app/conf

WORKDIR /app
USER chatr
EXPOSE 3001
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/api/health" || exit 1

CMD ["sh", "-c", "python -m chatr_server migrate && exec python -m chatr_server serve --host 0.0.0.0"]
