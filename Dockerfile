# Mayday: Superposition webhook receiver that drives Kubernetes canary rollouts.
#
#   docker build -t mayday:latest .
#
# Two stages on the same Debian 12 (bookworm) slim Node.js 24 LTS base: the build stage compiles
# TypeScript with the dev dependencies; the runtime stage holds production dependencies and
# dist/ only. For reproducible builds pin the base image by digest
# (--build-arg NODE_IMAGE=node:24-bookworm-slim@sha256:...). The suite builds this file with a base made
# locally the same way (scripts/container-image.sh), since no registry is reachable there.
#
# Why slim and not distroless (the distroless nodejs24-debian12 image): the runtime stage runs `npm ci`
# to install the production dependencies, which needs npm and a shell; distroless has neither, so it
# would need a third stage and a copied node_modules. Slim also keeps a shell for `kubectl exec` when
# something goes wrong. Distroless would be smaller (no npm, no apt) and has no shell to abuse; the
# root file system is read-only in deploy/ either way.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# Dependencies first, so this layer is reused while only the sources change. No install scripts:
# the only one that matters, the `node` devDependency's, would download Node.js again, and the base
# image already is the Node.js that package.json pins (same major).
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts

COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
# nest build -p tsconfig.build.json -> dist/main.js
RUN npm run build

# ---- runtime -------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app

ENV NODE_ENV=production HOST=0.0.0.0 PORT=8090

# Production dependencies only. Files stay owned by root: the app never writes under /app,
# and in Kubernetes the root file system is mounted read-only anyway.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

COPY --from=build /app/dist ./dist

# The base image's unprivileged "node" user, given numerically so that the kubelet can verify
# runAsNonRoot without looking the name up.
USER 1000

EXPOSE 8090

# node directly (not npm) so that SIGTERM reaches the process and Nest's shutdown hooks run.
# No HEALTHCHECK: Kubernetes probes /health/live and /health/ready.
# A 2 MB young generation (V8's default is 16 MB) keeps the resident memory ~40 MB lower for a
# service whose allocations are small and short-lived; measured with `npm run bench`.
CMD ["node", "--max-semi-space-size=2", "dist/main.js"]
