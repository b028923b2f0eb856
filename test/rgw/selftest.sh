#!/usr/bin/env bash
# Self-test of test/rgw: starts RGW, checks what the S3 origin tests rely on (SigV4 checked,
# ranges, conditional GETs, awkward keys, listing with pagination), uploads N small objects
# with s3util.py sync, prints timings and RSS, stops RGW and checks that nothing is left.
#
#   test/rgw/selftest.sh [--objects N] [--store memstore|bluestore] [--keep]
#
# --keep leaves the server running (and prints its DIR) instead of stopping it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
objects=20000 store=memstore keep=0
while (($#)); do
  case $1 in
    --objects) objects=${2:?}; shift 2 ;;
    --store) store=${2:?}; shift 2 ;;
    --keep) keep=1; shift ;;
    *) sed -n '2,8p' "$0" >&2; exit 2 ;;
  esac
done
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

work=$(mktemp -d /tmp/epochfs-rgw-selftest.XXXXXX)
dir=$work/rgw
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  if ((keep)); then
    echo "left running: $dir (stop with: $here/rgw.sh stop $dir)"
  else
    "$here/rgw.sh" stop "$dir" || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT

fails=0
check() { # DESCRIPTION EXPECTED ACTUAL
  if [[ "$2" == "$3" ]]; then
    printf 'ok    %s\n' "$1"
  else
    printf 'FAIL  %s: expected [%s], got [%s]\n' "$1" "$2" "$3"
    fails=$((fails + 1))
  fi
}
ms() { date +%s%3N; }

"$here/rgw.sh" install
t0=$(ms)
endpoint=$("$here/rgw.sh" start "$dir" --store "$store")
startup_ms=$(($(ms) - t0))
echo "started $endpoint ($store) in $startup_ms ms"
check "status" 0 "$("$here/rgw.sh" status "$dir" >/dev/null; echo $?)"
# shellcheck disable=SC1091
source "$dir/env"
s3u() { "$PY" "$here/s3util.py" "$@"; }
sig=(--aws-sigv4 "aws:amz:$EPOCHFS_S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
     -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
code() { curl -sS -o /dev/null -w '%{http_code}' "$@"; }

# Bucket and objects with curl.
check "curl: create bucket" 200 "$(code "${sig[@]}" -X PUT "$endpoint/selftest")"
printf '0123456789' >"$work/ten"
t1=$(ms)
check "curl: first PUT into the new bucket" 200 "$(code "${sig[@]}" -T "$work/ten" "$endpoint/selftest/ten")"
echo "      (first PUT into a new bucket: $(($(ms) - t1)) ms)"
check "curl: GET" 0123456789 "$(curl -sS "${sig[@]}" "$endpoint/selftest/ten")"
etag=$(curl -sS -D - -o /dev/null "${sig[@]}" "$endpoint/selftest/ten" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
check "ETag is the MD5" "\"$(md5sum <"$work/ten" | cut -d' ' -f1)\"" "$etag"
check "anonymous GET refused" 403 "$(code "$endpoint/selftest/ten")"
check "wrong secret: 403" 403 "$(code --aws-sigv4 "aws:amz:$EPOCHFS_S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:x$AWS_SECRET_ACCESS_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$endpoint/selftest/ten")"
check "other region in the scope (eu-west-3) accepted" 200 "$(code --aws-sigv4 "aws:amz:eu-west-3:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$endpoint/selftest/ten")"
check "missing bucket: 404" 404 "$(code "${sig[@]}" "$endpoint/nosuchbucket/x")"
check "missing key: 404" 404 "$(code "${sig[@]}" "$endpoint/selftest/nosuchkey")"

# Ranges and conditional requests.
check "range 2-5" 2345 "$(curl -sS "${sig[@]}" -H 'Range: bytes=2-5' "$endpoint/selftest/ten")"
check "range 2-5 status" 206 "$(code "${sig[@]}" -H 'Range: bytes=2-5' "$endpoint/selftest/ten")"
check "suffix range -3" 789 "$(curl -sS "${sig[@]}" -H 'Range: bytes=-3' "$endpoint/selftest/ten")"
check "range past EOF clipped (8-100)" 89 "$(curl -sS "${sig[@]}" -H 'Range: bytes=8-100' "$endpoint/selftest/ten")"
check "range at EOF: 416" 416 "$(code "${sig[@]}" -H 'Range: bytes=10-' "$endpoint/selftest/ten")"
check "If-Match wrong ETag: 412" 412 "$(code "${sig[@]}" -H 'If-Match: "0123"' "$endpoint/selftest/ten")"
check "If-Match right ETag + range: 206" 206 "$(code "${sig[@]}" -H "If-Match: $etag" -H 'Range: bytes=0-0' "$endpoint/selftest/ten")"
check "If-None-Match same ETag: 304" 304 "$(code "${sig[@]}" -H "If-None-Match: $etag" "$endpoint/selftest/ten")"
# Virtual-hosted style: RGW runs with rgw dns name = localhost; curl resolves *.localhost
# to loopback by itself (glibc does not).
port=${endpoint##*:}
check "virtual-hosted GET (selftest.localhost)" 0123456789 "$(curl -sS "${sig[@]}" "http://selftest.localhost:$port/ten")"

# s3util: awkward keys, both ways (curl needs the key encoded by hand).
weird='dir one/a b+c%d=e&f?g#h é€ 漢字.txt'
printf 'weird' >"$work/weird"
s3u put selftest "$weird" "$work/weird" >/dev/null
check "s3util: GET awkward key" weird "$(s3u get selftest "$weird")"
enc=$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/-_.~"))' "$weird")
check "curl: GET awkward key (encoded)" weird "$(curl -sS "${sig[@]}" "$endpoint/selftest/$enc")"
check "s3util: ls with prefix" "$weird" "$(s3u ls selftest 'dir one/')"
s3u rm selftest "$weird"
check "s3util: rm" "" "$(s3u ls selftest 'dir one/')"

# The module from Python: ranged get, If-Match, listing with a delimiter.
check "s3util module" ok "$(cd "$here" && "$PY" - <<'EOF'
import s3util
s3 = s3util.S3()
etag = s3.put_object("selftest", "m/x", b"abcdef")
assert s3.get_object("selftest", "m/x", (1, 2)) == b"bc"
assert s3.get_object("selftest", "m/x", "bytes=-2") == b"ef"
assert s3.get("selftest", "m/x", headers={"If-Match": '"nope"'}, ok=(412,))[0] == 412
assert s3.get("selftest", "m/x", headers={"If-Match": etag})[0] == 200
s3.put_object("selftest", "m/y/z", b"")
got = list(s3.list_objects("selftest", "m/", delimiter="/"))
assert got == [{"Key": "m/x", "Size": 6, "ETag": etag}, {"Prefix": "m/y/"}], got
try:
    s3.get_object("selftest", "m/nope")
    raise AssertionError("no error")
except s3util.S3Error as e:
    assert (e.status, e.code) == (404, "NoSuchKey"), e
print("ok")
EOF
)"

# Many small objects.
"$PY" - "$work/small" "$objects" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 1000:03d}")
    if i % 1000 == 0:
        os.makedirs(d)
    with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
        f.write(os.urandom(100 + i % 900))
EOF
s3u mb small
t1=$(ms)
s3u sync "$work/small" small train
sync_ms=$(($(ms) - t1))
t1=$(ms)
listed=$(s3u ls small train/ | wc -l)
list_ms=$(($(ms) - t1))
check "listed all $objects objects" "$objects" "$listed"
rss() { ps -o rss= -p "$(cat "$dir/pids/$1.pid")" | awk '{printf "%d MB", $1 / 1024}'; }
echo
echo "startup:        $startup_ms ms ($store)"
echo "sync:           $objects objects in $sync_ms ms ($((objects * 1000 / (sync_ms > 0 ? sync_ms : 1))) objects/s, 16 connections)"
echo "list:           $objects keys in $list_ms ms (ListObjectsV2, 1000 per page)"
echo "RSS:            mon $(rss mon), osd $(rss osd), radosgw $(rss rgw)"
((keep)) && exit "$((fails > 0))"

t1=$(ms)
"$here/rgw.sh" stop "$dir"
echo "stop:           $(($(ms) - t1)) ms"
"$here/rgw.sh" stop "$dir"  # twice is fine
left=$(pgrep -f -- "$dir/ceph.conf" || true)
check "nothing left running" "" "$left"
check "DIR removed" no "$([[ -e $dir ]] && echo yes || echo no)"
((fails == 0)) && echo "selftest: all checks passed" || echo "selftest: $fails check(s) FAILED"
exit "$((fails > 0))"
