#!/usr/bin/python3
"""Monitor-side steps of test/rgw/rgw.sh, in one librados session each (the `ceph` CLI
costs ~0.4 s of Python startup per call). Needs Debian's python3-rados (ceph-common), i.e.
/usr/bin/python3, not another python first on PATH.

  cluster_setup.py setup CONF OSD_UUID     register the OSD, put it in the CRUSH map, create
                                           RGW's pools; prints the OSD id
  cluster_setup.py wait-osd-up CONF SECS   exit 0 once one OSD is up, 1 after SECS
"""
import json
import sys
import time

import rados

# Every pool RGW (default zone) uses. Created up front so that neither radosgw nor the first
# PUT into a new bucket waits for a pool creation, and so that radosgw sends no monitor
# commands while starting.
RGW_POOLS = [".rgw.root", "default.rgw.control", "default.rgw.meta", "default.rgw.log",
             "default.rgw.buckets.index", "default.rgw.buckets.data",
             "default.rgw.buckets.non-ec"]


ZERO_FSID = "00000000-0000-0000-0000-000000000000"


def connect(conf):
    cluster = rados.Rados(conffile=conf, name="client.admin")
    cluster.connect(timeout=20)
    # With auth none, connect() can return before the client has the monitor map; a command
    # sent then carries an all-zero fsid and the monitor refuses it ("wrong fsid", EPERM).
    deadline = time.monotonic() + 10
    while cluster.get_fsid() in ("", ZERO_FSID) and time.monotonic() < deadline:
        time.sleep(0.02)
    return cluster


def mon(cluster, **cmd):
    # Every command used here is idempotent, so retrying a "wrong fsid" refusal is safe.
    for attempt in range(50):
        ret, out, err = cluster.mon_command(json.dumps(cmd), b"", timeout=20)
        if ret == -1 and "wrong fsid" in err and attempt < 49:
            time.sleep(0.1)
            continue
        if ret != 0:
            raise SystemExit(f"mon command {cmd} failed: {ret} {err}")
        return out


def setup(conf, osd_uuid):
    cluster = connect(conf)
    try:
        osd_id = int(json.loads(mon(cluster, prefix="osd new", uuid=osd_uuid,
                                    format="json"))["osdid"])
        # The OSD would do this itself at boot (osd crush update on start), but an OSD that
        # sends a monitor command right after connecting sometimes sends an all-zero fsid
        # (see connect()) and exits with "wrong fsid"; rgw.sh turns that off and does it
        # here.
        mon(cluster, prefix="osd crush add", id=osd_id, weight=1.0,
            args=["root=default", "host=localhost"])
        for pool in RGW_POOLS:
            mon(cluster, prefix="osd pool create", pool=pool, pg_num=8)
            mon(cluster, prefix="osd pool application enable", pool=pool, app="rgw")
    finally:
        cluster.shutdown()
    print(osd_id)


def wait_osd_up(conf, secs):
    deadline = time.monotonic() + float(secs)
    cluster = connect(conf)
    try:
        while True:
            stat = json.loads(mon(cluster, prefix="osd stat", format="json"))
            if stat.get("num_up_osds", 0) >= 1:
                return 0
            if time.monotonic() >= deadline:
                return 1
            time.sleep(0.1)
    finally:
        cluster.shutdown()


def main(argv):
    if len(argv) == 4 and argv[1] == "setup":
        setup(argv[2], argv[3])
        return 0
    if len(argv) == 4 and argv[1] == "wait-osd-up":
        return wait_osd_up(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
