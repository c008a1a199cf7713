# syntax=docker/dockerfile:1
# Clara Agent Runner: `docker build -t clara-agent-runner .`
# The image serves the API (`clara-runner serve`, the default command); `clara-runner worker` runs a queue
# worker from the same image (docker-compose.yml). Settings come from the environment (.env.example).

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --- build: the package as a wheel, and wheels of everything it needs ---
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the wheels installed, no build tools, a non-root user ---
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    CLARA_DATA_DIR=/data
RUN groupadd --system --gid 10001 clara \
    && useradd --system --uid 10001 --gid clara --home-dir /data --no-create-home clara \
    && mkdir -p /data \
    && chown clara:clara /data
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels /wheels/clara_agent_runner-*.whl \
    && rm -rf /wheels
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["clara-runner", "health"]
ENTRYPOINT ["clara-runner"]
CMD ["serve"]
