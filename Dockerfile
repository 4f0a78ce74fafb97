# Production image: one image, one start script (bin/start) for every role.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PYTHON=python CHROMIUM_EXECUTABLE=/usr/bin/chromium
# Chromium drives the Kaspi cabinet login (Playwright with executable_path).
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-liberation \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# /app/media and /app/var/backups are named volumes in docker-compose.yml: created here, owned by
# the app user, so a fresh volume starts with that owner.
RUN DEBUG=1 python manage.py collectstatic --noinput \
 && mkdir -p /app/media /app/var/backups \
 && useradd --create-home --uid 10001 app && chown -R app /app
USER app
EXPOSE 8000
ENTRYPOINT ["bin/start"]
CMD ["web"]
