#!/bin/sh
# The `trial` profile's container: the Jira simulator on this container's loopback (plain
# http is accepted only there), its workaround token stored, the sample mails ingested, then
# every role in one process, with Bull Board on port 3000. Trial only: the simulator's site
# lives in memory and its token is worthless elsewhere.
set -eu
if [ -z "${MAILROOM_WEB_PASSWORD:-}" ]; then
  echo '{"level":60,"name":"mailroom-trial","msg":"set MAILROOM_WEB_PASSWORD (in .env or the environment) to sign in to Bull Board"}' >&2
  exit 2
fi
export MAILROOM_WEB_USER="${MAILROOM_WEB_USER:-trial}"
# The simulator's token is encrypted like a real one; a trial key lives only in this container.
if [ -z "${MAILROOM_SECRET_KEY:-}" ] && [ -z "${MAILROOM_SECRET_KEY_FILE:-}" ]; then
  MAILROOM_SECRET_KEY="$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64"))')"
  export MAILROOM_SECRET_KEY
fi
SIM_PORT=8990
node /app/dist/src/cli/main.js jira-sim --port "$SIM_PORT" --seed-demo --json > /tmp/jira-sim.json &
for _ in $(seq 1 100); do
  grep -q '"admin"' /tmp/jira-sim.json 2>/dev/null && break
  sleep 0.1
done
export JIRA_BASE_URL="http://127.0.0.1:$SIM_PORT"
node -e 'const s = JSON.parse(require("fs").readFileSync("/tmp/jira-sim.json", "utf8")); process.stdout.write(s.admin.token)' |
  mailroom token set --email mailroom-bot@acme.example
mailroom ingest /app/trial/mails
echo "trial: the sample mails are in; Bull Board at http://127.0.0.1:${TRIAL_HOST_PORT:-3001}/board (user $MAILROOM_WEB_USER)"
exec mailroom start
