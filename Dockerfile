# Mailroom's image: every role runs from it (`node dist/workers/<role>.js`, see
# docker-compose.yml). Two stages: the build stage compiles TypeScript with the dev
# dependencies; the runtime stage holds only production dependencies, the built dist/ and the
# `mailroom` command, and runs as the unprivileged `node` user.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY workers workers
COPY bin bin
# The commit goes into dist/build-stamp.json (there is no .git here): docker build --build-arg MAILROOM_COMMIT=$(git rev-parse HEAD)
ARG MAILROOM_COMMIT=unknown
RUN MAILROOM_COMMIT=$MAILROOM_COMMIT npm run build

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    MAILROOM_CONFIG=/app/mailroom.yml
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist dist
COPY bin bin
# No configuration is baked in: compose mounts one at /app/mailroom.yml (docker/mailroom.docker.yml
# by default; `docker run -v ./mailroom.yml:/app/mailroom.yml:ro` otherwise). Without it a role
# exits 2 saying there is no configuration file. Secrets come as files too (X_FILE variables).
# Only for the `trial` profile: the simulator site's sample mails and the script that feeds them.
COPY src/demo/mails trial/mails
COPY docker/trial.sh trial/trial.sh
RUN mkdir -p var/mail && chown node:node var/mail && ln -s /app/bin/mailroom.js /usr/local/bin/mailroom
USER node
# The web role by default; compose names the role of each service.
CMD ["node", "dist/workers/web.js"]
