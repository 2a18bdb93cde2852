# fundingflow services (connectors, worker, executor, api) for docker-compose.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY fundingflow ./fundingflow
COPY schemas ./schemas
COPY processors ./processors
COPY connectors ./connectors
COPY streams ./streams
COPY executors ./executors
COPY benchmarks ./benchmarks
RUN pip install . && useradd --system --uid 10001 fundingflow
USER fundingflow
CMD ["fundingflow", "--help"]
