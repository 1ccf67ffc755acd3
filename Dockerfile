# syntax=docker/dockerfile:1
# One image for the bridge and both example consumers; the command picks the process:
#   bridge (default):     node --min-semi-space-size=32 --max-semi-space-size=32 dist/src/main.js
#                         (npm start: a fixed, larger young generation keeps RSS flat and low;
#                         docs/performance.md)
#   analytics consumer:   node dist/src/consumers/analytics/main.js   (npm run consumer:analytics)
#   moderation consumer:  node dist/src/consumers/moderation/main.js  (npm run consumer:moderation)
#
# Node 24, not Node 20: the project requires Node >=24 (package.json `engines`). The spool uses
# the built-in `node:sqlite`, @kafkajs/confluent-schema-registry 4.x needs Node 22+, and Node 20
# reached its end of life in April 2026. Debian slim rather than Alpine: glibc, the same libc as
# the machines the tests run on. Pin a digest in your registry mirror (NODE_IMAGE=node:24-...@sha256:...).
ARG NODE_IMAGE=node:24-trixie-slim

# ---- build: all dependencies (TypeScript), compile to dist/ ---------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the only install script is the `node` devDependency's (a Node 24 binary for
# machines without one); the image has its own Node 24, so skip it and drop its dangling bin link.
RUN npm ci --ignore-scripts --no-audit --no-fund && rm -f node_modules/.bin/node
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only (no `node` package, no TypeScript, no test tools) ---------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM/SIGINT to Node (which stops gracefully) and reaps zombies.
# npm, npx and corepack are removed: the processes are started with `node` directly.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/* \
  && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
    /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
ENV NODE_ENV=production \
    SPOOL_DIR=/var/lib/tim-kafka-bridge/spool
WORKDIR /app
# Code and dependencies belong to root and are read-only for the process (uid 1000).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
# read at run time: the Avro schemas (src/schemas.ts) and the moderation example rules
COPY schemas ./schemas
COPY config ./config
# The spool directory: mount a volume here (Kubernetes: a PersistentVolumeClaim); owned by the
# process's user so that a fresh named volume inherits a writable directory.
RUN mkdir -p /var/lib/tim-kafka-bridge/spool && chown 1000:1000 /var/lib/tim-kafka-bridge/spool
# uid/gid 1000 is the base image's `node` user; numeric, so Kubernetes can verify runAsNonRoot.
USER 1000:1000
# callback port, then the admin ports of the bridge, analytics and moderation (never publish these)
EXPOSE 8080 9464 9465 9466
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--min-semi-space-size=32", "--max-semi-space-size=32", "dist/src/main.js"]
# OCI annotations (docker inspect, registries, scanners). Version and revision come from the build:
#   docker build --build-arg VERSION=$(node -p "require('./package.json').version") \
#     --build-arg REVISION=$(git rev-parse HEAD) -t <registry>/tim-kafka-bridge:<version> .
# Declared last, so a new revision reuses every cached layer above.
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/tim-kafka-bridge/tim-kafka-bridge
LABEL org.opencontainers.image.title="tim-kafka-bridge" \
      org.opencontainers.image.description="Tencent Cloud Chat webhook callbacks to Avro records in Kafka, and two example consumers" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
