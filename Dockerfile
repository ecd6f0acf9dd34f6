# The gitops-edge image: the reconciler and the edge OTA agent (one console script).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gitops_edge ./gitops_edge
COPY schemas ./schemas
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
# git: git sources and status commits (GitPython drives the git binary)
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /install /usr/local
USER 10001:10001
ENTRYPOINT ["gitops-edge"]
CMD ["--help"]
