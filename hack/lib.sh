# Shell helpers shared by hack/cluster.sh and hack/node.sh (sourced, not run).
# The caller sets LOG_PREFIX and DEADLINE_SECONDS.

log() { printf '[%s %(%H:%M:%S)T] %s\n' "${LOG_PREFIX:-hack}" -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# render FILE: substitute ${VAR} from the environment; an unset variable is an error.
render() {
  python3 -c 'import os, string, sys; sys.stdout.write(string.Template(open(sys.argv[1]).read()).substitute(os.environ))' "$1"
}

# wait_for DESCRIPTION COMMAND...: poll COMMAND until it succeeds or the deadline passes.
wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + ${DEADLINE_SECONDS:-180}))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${DEADLINE_SECONDS:-180}s waiting for $what"
    sleep 0.5
  done
}

# spawn PIDFILE LOGFILE COMMAND...: start COMMAND as a daemon in a session of its own and write
# its own PID (not a wrapper's: `setsid` forks when it is called by a group leader) to PIDFILE.
spawn() {
  local pidfile=$1 logfile=$2; shift 2
  python3 - "$logfile" "$@" >"$pidfile" <<'PY'
import subprocess, sys
with open(sys.argv[1], "ab") as log:
    child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
print(child.pid)
PY
}

# stop_pid PID [SECONDS]: SIGTERM, wait up to SECONDS (15), then SIGKILL. Only our own PIDs.
stop_pid() {
  local pid=$1 grace=${2:-15}
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

# stop_pidfile FILE [SECONDS]: stop the process whose PID FILE holds, then remove FILE.
stop_pidfile() {
  [ -f "$1" ] || return 0
  stop_pid "$(cat "$1")" "${2:-15}"
  rm -f "$1"
}

# coredns_version: the version of the cached CoreDNS ($BIN/coredns), as its image is tagged (v1.14.3).
coredns_version() { "$BIN/coredns" -version | sed -n 's/^CoreDNS-/v/p'; }
