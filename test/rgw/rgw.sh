#!/usr/bin/env bash
# A real S3 server for tests: Ceph RADOS Gateway (Debian's radosgw) on loopback, one
# monitor + one OSD + radosgw, no systemd, everything under one directory. See docs/rgw.md.
#
#   rgw.sh install
#   rgw.sh start DIR [--port P] [--store memstore|bluestore] [--bluestore-size SIZE]
#                    [--memstore-size SIZE] [--access-key K] [--secret-key S] [--timeout SEC]
#                    [--set CEPH_OPTION=VALUE]... [--https] [--replace]
#   rgw.sh stop DIR
#   rgw.sh status DIR
#
# start writes DIR/env (sourceable: EPOCHFS_S3_ENDPOINT, EPOCHFS_S3_REGION, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY; with --https also EPOCHFS_S3_HTTPS_ENDPOINT, a second endpoint serving
# TLS with a self-signed certificate for 127.0.0.1 made at start, and EPOCHFS_S3_CA_BUNDLE, that
# certificate) and DIR/env.json, and prints the endpoint on stdout (the only thing
# it prints there; progress goes to stderr). stop kills the daemons by their pid files and
# removes DIR. All daemons run detached (setsid, stdio on log files), so the caller (ctest,
# pytest's subprocess.run with capture_output) never waits on a pipe they hold.
set -euo pipefail

readonly PACKAGES=(ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl python3 openssl)
readonly MARKER=.epochfs-rgw
readonly RGW_NAME=client.rgw.epochfs
readonly MON_ID=a
readonly REGION=us-east-1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Debian's python (ceph's python3-rados lives there), not whatever python3 is first on PATH.
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

say() { printf 'rgw.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
  sed -n '5,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- install ---------------------------------------------------------------------------

missing_packages() {
  local installed p
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null |
                awk '$2 == "installed" {print $1}' || true)
  for p in "${PACKAGES[@]}"; do
    grep -qxF -- "$p" <<<"$installed" || printf '%s\n' "$p"
  done
}

do_install() {
  local missing
  missing=$(missing_packages)
  [[ -z "$missing" ]] && return 0
  [[ $(id -u) -eq 0 ]] || die "packages missing ($(echo "$missing" | tr '\n' ' ')) and not root: run 'sudo $0 install'"
  # Two parallel `start`s on a fresh machine must not run apt-get at the same time.
  exec 9>/var/lock/epochfs-rgw-install.lock
  flock -w 900 9 || die "timed out waiting for another rgw.sh install"
  missing=$(missing_packages)
  if [[ -n "$missing" ]]; then
    local t0; t0=$(now)
    say "installing: ${missing//$'\n'/ }"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 $missing >&2
    say "installed in $(elapsed "$t0") s"
  fi
  exec 9>&-
  return 0
}

# --- helpers -----------------------------------------------------------------------------

# A free TCP port on 127.0.0.1, chosen at random below the ephemeral range (so that an
# outgoing connection cannot take it between the check and the daemon's bind).
free_port() {
  "$PY" - <<'EOF'
import random, socket
for _ in range(200):
    port = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free port found")
EOF
}

port_free() {
  "$PY" -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

random_string() { # N ALPHABET
  "$PY" -c 'import secrets,sys; print("".join(secrets.choice(sys.argv[2]) for _ in range(int(sys.argv[1]))))' "$1" "$2"
}

to_bytes() { # 4G, 512M, 1073741824
  "$PY" -c '
import re, sys
m = re.fullmatch(r"(\d+)([KMGT]?)i?[Bb]?", sys.argv[1].strip(), re.I)
if not m: raise SystemExit("bad size: " + sys.argv[1])
print(int(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " "))' "$1"
}

pid_of() { # NAME -> pid, if its pid file exists and the process is alive and ours
  local f="$dir/pids/$1.pid" pid
  [[ -s "$f" ]] || return 1
  pid=$(<"$f")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  # Guard against a recycled pid: the process must be one we started with our ceph.conf.
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir/ceph.conf" || return 1
  printf '%s\n' "$pid"
}

log_tail() { # FILE...
  local f
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    echo "---- last lines of $f" >&2
    tail -n 25 "$f" >&2
  done
}

# wait_until WHAT SECONDS DAEMON LOG... -- COMMAND...: run COMMAND until it succeeds; fail
# with a clear message if the deadline passes or DAEMON (a pid file name) dies first.
wait_until() {
  local what=$1 secs=$2 daemon=$3; shift 3
  local logs=()
  while [[ $1 != -- ]]; do logs+=("$1"); shift; done
  shift
  local deadline=$((SECONDS + secs))
  while true; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [[ -n "$daemon" ]] && ! pid_of "$daemon" >/dev/null; then
      say "error: $what: the $daemon process exited"
      log_tail "${logs[@]}"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      say "error: $what: not done after ${secs} s"
      log_tail "${logs[@]}"
      return 1
    fi
    sleep 0.2
  done
}

ceph_cli() { timeout 10 ceph -c "$dir/ceph.conf" --connect-timeout 5 "$@"; }

# spawn NAME COMMAND...: start a daemon in the foreground of its own session, detached from
# our stdio, and record its pid.
spawn() {
  local name=$1; shift
  setsid "$@" </dev/null >>"$dir/log/$name.stdout" 2>&1 &
  local pid=$! deadline=$((SECONDS + 10))
  echo "$pid" >"$dir/pids/$name.pid"
  # Until the child has exec'd, its command line is ours: wait for that, so that pid_of
  # (which checks the command line) does not take a slow exec for a dead daemon.
  until pid_of "$name" >/dev/null; do
    alive "$pid" || return 0  # died at once: the wait loop reports it, with its log
    ((SECONDS < deadline)) || die "$name (pid $pid) did not exec within 10 s"
    sleep 0.01
  done
}

load_dir() { # DIR -> sets the global $dir (absolute)
  [[ -n "${1:-}" ]] || usage
  dir=$(realpath -m -- "$1")
  [[ "$dir" != / ]] || die "refusing to use / as DIR"
}

# --- start -------------------------------------------------------------------------------

do_start() {
  load_dir "${1:-}"; shift
  local port="" store=memstore bluestore_size=10G memstore_size=4G
  local access_key="" secret_key="" timeout=120 extra_conf="" replace=0 https=0
  while (($#)); do
    case $1 in
      --port) port=${2:?}; shift 2 ;;
      --store) store=${2:?}; shift 2 ;;
      --bluestore-size) bluestore_size=${2:?}; shift 2 ;;
      --memstore-size) memstore_size=${2:?}; shift 2 ;;
      --access-key) access_key=${2:?}; shift 2 ;;
      --secret-key) secret_key=${2:?}; shift 2 ;;
      --timeout) timeout=${2:?}; shift 2 ;;
      --replace) replace=1; shift ;;
      --https) https=1; shift ;;
      --set) [[ "${2:?}" == *=* ]] || die "--set wants KEY=VALUE"
             extra_conf+="${2%%=*} = ${2#*=}"$'\n'; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ "$store" == memstore || "$store" == bluestore ]] || die "--store must be memstore or bluestore"
  local t0; t0=$(now)
  do_install

  # --replace: a DIR left by an earlier run that was killed (a stale ctest fixture).
  if ((replace)) && [[ -e "$dir/$MARKER" ]]; then
    say "--replace: stopping the previous instance in $dir"
    do_stop_dir remove
  fi
  if [[ -e "$dir" ]]; then
    [[ -d "$dir" ]] || die "$dir exists and is not a directory"
    [[ -z "$(ls -A "$dir")" ]] || die "$dir is not empty (already running? use 'rgw.sh stop $dir' first)"
  fi
  mkdir -p "$dir"/{run,log,pids,mon,osd,rgw,crash,tmp}
  : >"$dir/$MARKER"
  # If anything below fails, leave nothing running.
  trap 'rc=$?; if ((rc != 0)); then say "start failed: stopping what was started"; do_stop_dir keep; fi' EXIT

  # Unix sockets have a 107-byte path limit; a too long DIR only loses the admin sockets
  # (nothing here needs them), but say so.
  if ((${#dir} > 70)); then say "warning: DIR is long (${#dir} chars): admin sockets may not bind"; fi

  if [[ -n "$port" ]]; then
    port_free "$port" || die "port $port on 127.0.0.1 is in use"
  else
    port=$(free_port)
  fi
  local mon_port
  mon_port=$(free_port)
  while [[ "$mon_port" == "$port" ]]; do mon_port=$(free_port); done
  local tls_frontend="" tls_port=""
  if ((https)); then
    tls_port=$(free_port)
    while [[ "$tls_port" == "$port" || "$tls_port" == "$mon_port" ]]; do tls_port=$(free_port); done
    mkdir -p "$dir/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=epochfs-test-rgw" \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" >"$dir/log/openssl.log" 2>&1 ||
      { log_tail "$dir/log/openssl.log"; die "openssl could not make a test certificate"; }
    tls_frontend=" ssl_endpoint=127.0.0.1:$tls_port ssl_certificate=$dir/tls/cert.pem ssl_private_key=$dir/tls/key.pem"
  fi
  local fsid osd_uuid
  fsid=$(uuidgen)
  osd_uuid=$(uuidgen)
  [[ -n "$access_key" ]] || access_key=EPOCHFS$(random_string 13 ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789)
  # Real AWS secrets contain '+' and '/': so do ours, to keep signers honest.
  [[ -n "$secret_key" ]] || secret_key=$(random_string 40 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')

  local store_conf
  if [[ "$store" == memstore ]]; then
    store_conf="osd objectstore = memstore
memstore device bytes = $(to_bytes "$memstore_size")"
  else
    # The block file must be OUTSIDE the OSD data dir (else mkfs fails with ELOOP).
    store_conf="osd objectstore = bluestore
bluestore block path = $dir/bluestore.block
bluestore block create = true
bluestore block size = $(to_bytes "$bluestore_size")
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mkfs = false
osd memory target = 1073741824"
  fi

  cat >"$dir/ceph.conf" <<EOF
# Written by test/rgw/rgw.sh: a throwaway single-node Ceph with RGW, for tests only.
[global]
fsid = $fsid
mon host = [v1:127.0.0.1:$mon_port]
mon initial members = $MON_ID
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = true
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
run dir = $dir/run
crash dir = $dir/crash
tmp dir = $dir/tmp
log file = $dir/log/\$cluster-\$name.log
mon cluster log file = $dir/log/cluster.log
log to stderr = false
err to stderr = true
log to journald = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
# One monitor: no need to batch map updates for a second (each pool creation and OSD boot
# step waits for one proposal; this takes startup from ~19 s to ~N s).
paxos propose interval = 0.05
paxos min wait = 0.01

[client.admin]
# rgw.sh's own clients (ceph CLI, cluster_setup.py): give up on a monitor that went away.
rados mon op timeout = 15

[mon]
mon data = $dir/mon/\$cluster-\$id

[osd]
# One OSD never recovers from a peer: a short PG log halves the memstore OSD's RSS
# (20k small objects: ~360 MB instead of ~780 MB).
osd min pg log entries = 100
osd max pg log entries = 200
osd pg log dups tracked = 100
osd pg log trim min = 10
# cluster_setup.py puts the OSD in the CRUSH map; the OSD must send no monitor command.
osd crush update on start = false
osd class update on start = false
osd data = $dir/osd/\$cluster-\$id
$store_conf

[$RGW_NAME]
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1$tls_frontend
rgw data = $dir/rgw
rgw dns name = localhost
rgw enable usage log = false
debug rgw = 1

[global]
# --set options
$extra_conf
EOF

  # Monitor.
  local conf=(-c "$dir/ceph.conf")
  monmaptool --create --fsid "$fsid" --addv "$MON_ID" "[v1:127.0.0.1:$mon_port]" "$dir/monmap" >"$dir/log/monmaptool.log" 2>&1 ||
    { log_tail "$dir/log/monmaptool.log"; die "monmaptool failed"; }
  ceph-mon "${conf[@]}" --mkfs -i "$MON_ID" --monmap "$dir/monmap" >"$dir/log/mon-mkfs.log" 2>&1 ||
    { log_tail "$dir/log/mon-mkfs.log" "$dir/log/ceph-mon.$MON_ID.log"; die "ceph-mon --mkfs failed"; }
  spawn mon ceph-mon "${conf[@]}" -f -i "$MON_ID"
  wait_until "monitor on 127.0.0.1:$mon_port" 30 mon "$dir/log/mon.stdout" "$dir/log/ceph-mon.$MON_ID.log" -- \
    ceph_cli mon stat
  say "monitor up on 127.0.0.1:$mon_port ($(elapsed "$t0") s)"

  # Register the OSD, put it in the CRUSH map and create RGW's pools, in one client session
  # (see cluster_setup.py for why rgw.sh does this rather than the daemons).
  local osd_id
  osd_id=$(timeout 60 "$PY" "$here/cluster_setup.py" setup "$dir/ceph.conf" "$osd_uuid" 2>"$dir/log/cluster-setup.log") ||
    { log_tail "$dir/log/cluster-setup.log"; die "cluster setup (osd new, crush add, pools) failed"; }

  # OSD.
  mkdir -p "$dir/osd/ceph-$osd_id"
  ceph-osd "${conf[@]}" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >"$dir/log/osd-mkfs.log" 2>&1 ||
    { log_tail "$dir/log/osd-mkfs.log" "$dir/log/ceph-osd.$osd_id.log"; die "ceph-osd --mkfs failed"; }
  spawn osd ceph-osd "${conf[@]}" -f -i "$osd_id"
  wait_until "OSD $osd_id up" 60 osd "$dir/log/osd.stdout" "$dir/log/ceph-osd.$osd_id.log" -- \
    timeout 20 "$PY" "$here/cluster_setup.py" wait-osd-up "$dir/ceph.conf" 2
  say "OSD $osd_id ($store) up ($(elapsed "$t0") s)"

  # RADOS Gateway.
  spawn rgw radosgw "${conf[@]}" -f -n "$RGW_NAME"
  local endpoint="http://127.0.0.1:$port"
  wait_until "radosgw on $endpoint" "$timeout" rgw "$dir/log/rgw.stdout" "$dir/log/ceph-$RGW_NAME.log" -- \
    curl -fsS -o /dev/null --max-time 2 "$endpoint/"
  say "radosgw answers on $endpoint ($(elapsed "$t0") s)"

  # S3 user.
  radosgw-admin "${conf[@]}" -n "$RGW_NAME" user create --uid=epochfs --display-name=epochfs \
    --access-key="$access_key" --secret-key="$secret_key" >"$dir/log/user-create.log" 2>&1 ||
    { log_tail "$dir/log/user-create.log"; die "radosgw-admin user create failed"; }

  write_env "$endpoint" "$access_key" "$secret_key" "${tls_port:+https://127.0.0.1:$tls_port}"
  wait_until "S3 credentials accepted by $endpoint" 30 rgw "$dir/log/ceph-$RGW_NAME.log" -- \
    signed_list_buckets
  trap - EXIT
  say "RGW ($store) ready at $endpoint in $(elapsed "$t0") s; env in $dir/env"
  printf '%s\n' "$endpoint"
}

write_env() { # ENDPOINT ACCESS SECRET [HTTPS_ENDPOINT]
  umask 077
  {
    printf '# Written by test/rgw/rgw.sh start; source it.\n'
    printf 'export EPOCHFS_S3_ENDPOINT=%q\n' "$1"
    printf 'export EPOCHFS_S3_REGION=%q\n' "$REGION"
    printf 'export AWS_ACCESS_KEY_ID=%q\n' "$2"
    printf 'export AWS_SECRET_ACCESS_KEY=%q\n' "$3"
    if [[ -n "$4" ]]; then
      printf 'export EPOCHFS_S3_HTTPS_ENDPOINT=%q\n' "$4"
      printf 'export EPOCHFS_S3_CA_BUNDLE=%q\n' "$dir/tls/cert.pem"
    fi
  } >"$dir/env"
  "$PY" - "$dir/env.json" "$1" "$REGION" "$2" "$3" "$4" "$dir/tls/cert.pem" <<'EOF'
import json, sys
path, endpoint, region, key, secret, https, ca = sys.argv[1:]
env = {"EPOCHFS_S3_ENDPOINT": endpoint, "EPOCHFS_S3_REGION": region,
       "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
if https:
    env.update({"EPOCHFS_S3_HTTPS_ENDPOINT": https, "EPOCHFS_S3_CA_BUNDLE": ca})
with open(path, "w") as f:
    json.dump(env, f, indent=2)
    f.write("\n")
EOF
}

# GET / signed with the user's keys answers 200 (the user exists and SigV4 checks pass).
signed_list_buckets() {
  (
    # shellcheck disable=SC1091
    source "$dir/env"
    curl -fsS -o /dev/null --max-time 5 --aws-sigv4 "aws:amz:$EPOCHFS_S3_REGION:s3" \
      --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
      -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$EPOCHFS_S3_ENDPOINT/"
  )
}

# --- stop --------------------------------------------------------------------------------

# Alive and not a zombie (a zombie's parent may never reap it, e.g. a container's PID 1).
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st%% *}
  [[ -n "$st" && "$st" != Z ]]
}

# stop_pid NAME PID: SIGTERM, SIGKILL after a deadline, wait until it is gone.
stop_pid() {
  local name=$1 pid=$2 deadline
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$((SECONDS + 10))
  while alive "$pid"; do
    if ((SECONDS >= deadline)); then
      say "$name (pid $pid) still running 10 s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while alive "$pid"; do
        ((SECONDS < deadline)) || die "$name (pid $pid) still alive 10 s after SIGKILL"
        sleep 0.05
      done
      return 0
    fi
    sleep 0.05
  done
}

# Stop the daemons of $dir; remove $dir unless $1 is "keep".
do_stop_dir() { # keep|remove
  # In order: radosgw while the cluster still answers (else it hangs in shutdown), then
  # the OSD, then the monitor.
  local name pid
  for name in rgw osd mon; do
    pid=$(pid_of "$name") || continue
    stop_pid "$name" "$pid"
  done
  [[ "$1" == keep ]] && return 0
  rm -rf -- "$dir"
}

do_stop() {
  load_dir "${1:-}"
  [[ -e "$dir" ]] || return 0
  if [[ ! -e "$dir/$MARKER" ]]; then
    [[ -z "$(ls -A "$dir")" ]] || die "$dir was not created by rgw.sh start (no $MARKER): not removing it"
  fi
  do_stop_dir remove
}

# --- status ------------------------------------------------------------------------------

do_status() {
  load_dir "${1:-}"
  [[ -r "$dir/env" ]] || { say "no $dir/env: not started"; return 1; }
  local ep
  ep=$(sed -n "s/^export EPOCHFS_S3_ENDPOINT=//p" "$dir/env")
  if curl -fsS -o /dev/null --max-time 3 "$ep/"; then
    echo "up: $ep"
  else
    say "down: $ep does not answer"
    return 1
  fi
}

main() {
  (($#)) || usage
  local cmd=$1; shift
  case $cmd in
    install) do_install ;;
    start) (($#)) || usage; do_start "$@" ;;
    stop) (($# == 1)) || usage; do_stop "$1" ;;
    status) (($# == 1)) || usage; do_status "$1" ;;
    -h|--help|help) usage ;;
    *) usage ;;
  esac
}

main "$@"
