# syntax=docker/dockerfile:1
# b3os-router: a small image that runs as a non-root user, reads /config/rules.yaml and keeps its
# database under /data.

# --- build: compile TypeScript and the native SQLite addon -----------------------------------
FROM node:22-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

# --- run ------------------------------------------------------------------------------------
FROM node:22-bookworm-slim
# MALLOC_ARENA_MAX and the node flags below: as `npm start` runs it (README "Performance").
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    RULES_FILE=/config/rules.yaml \
    DB_PATH=/data/router.db \
    PORT=8080 \
    HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY bin ./bin
COPY rules.schema.json rules.example.yaml ./
COPY examples ./examples
# The example rules as a starting point; mount your own /config (rules.yaml and any example
# event files it names) over it.
COPY rules.example.yaml /config/rules.yaml
COPY examples /config/examples
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1's child-free process and receives SIGTERM directly. Peak RSS under load
# (README "Performance"): a 4 MB semi-space; a 1 GB heap limit, under which V8 grows each heap by
# at most 1.6x between full collections instead of 4x; WebAssembly (undici's HTTP parser) left
# to Liftoff, so that no 40 MB TurboFan compilation of it lands on top of a busy heap.
ENTRYPOINT ["node", "--max-semi-space-size=4", "--max-old-space-size=1024", "--liftoff-only", "bin/b3os-router.js"]
CMD ["serve"]
