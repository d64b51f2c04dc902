# The demo services for the compose `demo` profile.
# Build context is the repository root (see compose/docker-compose.yml):
#   docker build -f compose/demo.Dockerfile .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the wheel needs (pyproject's hatch targets and readme), so a local
# .venv or caches in the work tree never end up in the image.
COPY pyproject.toml README.md ./
COPY src ./src
COPY demo_service ./demo_service
COPY loadgen ./loadgen

RUN pip install ".[demo]" \
    && useradd --create-home --uid 10001 demo

USER demo

EXPOSE 8000 8001

CMD ["python", "-m", "demo_service", "--host", "0.0.0.0"]
