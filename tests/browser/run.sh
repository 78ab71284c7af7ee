#!/bin/sh
# Runs the browser test end to end: a fresh data dir with the demo content, an editor token,
# the server with the example website on one origin, a draft that must stay invisible, and
# site.mjs with PUBLISH_CMD. Stops the server again afterwards.
#
#   tests/browser/run.sh                       # uses target/release/verbund, else target/debug/verbund
#   VERBUND_BIN=/path/to/verbund PORT=18095 tests/browser/run.sh
#
# Needs node (>= 20) with `npm ci` done in tests/browser, and Chromium (/usr/bin/chromium or
# CHROMIUM). Screenshots go to SCREENSHOT_DIR (default tests/browser/screenshots).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
port=${PORT:-18095}
bin=${VERBUND_BIN:-}
if [ -z "$bin" ]; then
  if [ -x "$repo/target/release/verbund" ]; then bin="$repo/target/release/verbund"; else bin="$repo/target/debug/verbund"; fi
fi
[ -x "$bin" ] || { echo "no verbund binary at $bin (cargo build -p verbund, or set VERBUND_BIN)" >&2; exit 2; }
[ -d "$here/node_modules/playwright-core" ] || { echo "run 'npm ci' in $here first" >&2; exit 2; }

data=$(mktemp -d)
log="$data.log"
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$data" "$log"
}
trap cleanup EXIT INT TERM

VERBUND_TOKEN=$("$bin" token create --data "$data" --role editor --expires 1h --label browsertest 2>/dev/null)
export VERBUND_TOKEN

# Without the plugin host, as the Rust test runs it: PUBLISH_CMD publishes a story at once,
# which the review workflow of the demo plugins would (rightly) refuse.
"$bin" serve --demo --no-plugins --data "$data" --listen "127.0.0.1:$port" --site "$repo/examples/website" >"$log" 2>&1 &
server=$!
i=0
healthy() {
  node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "http://127.0.0.1:$port/healthz"
}
until healthy; do
  i=$((i + 1))
  if [ "$i" -gt 100 ] || ! kill -0 "$server" 2>/dev/null; then
    echo "the server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done

export SITE_URL="http://127.0.0.1:$port/"
export VERBUND_URL="http://127.0.0.1:$port"
DRAFT_TITLE=$(node "$here/publish-story.mjs" --draft | tail -n 1)
export DRAFT_TITLE
export PUBLISH_CMD="node '$here/publish-story.mjs'"

status=0
node "$here/site.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log ---" >&2
  tail -n 50 "$log" >&2
fi
exit "$status"
