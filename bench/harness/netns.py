"""The benchmark's network: a namespace holding the origin, joined to the host by a veth pair
with a tbf bandwidth limit on both ends.

    host (clients: epochfs, s3fs, rclone)          namespace NAME (RGW + latency proxy)
    IF_h  HOST_ADDR/30  -- tbf RATE -->  <-- tbf RATE --  IF_n  NS_ADDR/30, lo

Only names and addresses given here are touched: `teardown` deletes the namespace (which
deletes the veth pair) and a stale host end, nothing else. Needs root and iproute2.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import subprocess
from dataclasses import dataclass


@dataclass
class Net:
    ns: str
    host_if: str
    ns_if: str
    host_addr: str
    ns_addr: str
    rate: str  # tc rate ("1gbit"), or "" for no limit

    def exec_prefix(self) -> list[str]:
        """Prefix of a command that runs inside the namespace."""
        return ["ip", "netns", "exec", self.ns]


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(cmd), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def plan(ns: str, subnet: str, rate: str) -> Net:
    """Names and addresses for namespace `ns` on `subnet` (a /30: .1 host, .2 namespace)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", ns):
        raise ValueError(f"bad namespace name {ns!r}")
    net = ipaddress.ip_network(subnet, strict=False)
    hosts = list(net.hosts())
    if len(hosts) < 2:
        raise ValueError(f"subnet {subnet} has fewer than two host addresses")
    tag = hashlib.sha1(ns.encode()).hexdigest()[:6]  # interface names: at most 15 chars
    return Net(ns, f"efb{tag}h", f"efb{tag}n", f"{hosts[0]}/{net.prefixlen}",
               f"{hosts[1]}/{net.prefixlen}", rate)


def rate_bytes(rate: str) -> float:
    """tc rate string -> bytes per second ("1gbit" -> 125e6)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)(bit|bps)", rate.strip().lower())
    if not m:
        raise ValueError(f"bad rate {rate!r}: want e.g. 1gbit, 500mbit, 100mbps")
    v = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)]
    return v / 8 if m.group(3) == "bit" else v


def exists(net: Net) -> bool:
    return net.ns in _run("ip", "netns", "list", check=False).stdout.split()


def teardown(net: Net) -> None:
    """Removes the namespace and the host end of the veth pair, if there. Processes still
    running inside the namespace keep it alive in the kernel until they exit, but its name
    and veth are gone."""
    if exists(net):
        _run("ip", "netns", "del", net.ns, check=False)
    if _run("ip", "link", "show", net.host_if, check=False).returncode == 0:
        _run("ip", "link", "del", net.host_if, check=False)


def _tbf(rate: str) -> list[str]:
    # The bucket must hold at least what arrives in one timer tick (HZ=250: 4 ms); 256 KiB
    # is enough up to ~500 Mbit/s, and scales above.
    burst = max(256 * 1024, int(rate_bytes(rate) * 0.004))
    return ["tbf", "rate", rate, "burst", str(burst), "latency", "50ms"]


def setup(net: Net) -> None:
    """Creates the namespace, the veth pair, addresses and tbf (after removing leftovers)."""
    teardown(net)
    _run("ip", "netns", "add", net.ns)
    try:
        _run("ip", "link", "add", net.host_if, "type", "veth", "peer", "name", net.ns_if)
        _run("ip", "link", "set", net.ns_if, "netns", net.ns)
        _run("ip", "addr", "add", net.host_addr, "dev", net.host_if)
        _run("ip", "link", "set", net.host_if, "up")
        ns = net.exec_prefix()
        _run(*ns, "ip", "addr", "add", net.ns_addr, "dev", net.ns_if)
        _run(*ns, "ip", "link", "set", net.ns_if, "up")
        _run(*ns, "ip", "link", "set", "lo", "up")
        if net.rate:
            _run("tc", "qdisc", "add", "dev", net.host_if, "root", *_tbf(net.rate))
            _run(*ns, "tc", "qdisc", "add", "dev", net.ns_if, "root", *_tbf(net.rate))
    except Exception:
        teardown(net)
        raise


def qdisc_stats(net: Net) -> dict:
    """tc's counters of both ends (sent bytes, drops, overlimits), for the record."""
    out = {}
    for side, cmd in (("host", []), ("ns", net.exec_prefix())):
        dev = net.host_if if side == "host" else net.ns_if
        r = _run(*cmd, "tc", "-s", "qdisc", "show", "dev", dev, check=False)
        m = re.search(r"Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)", r.stdout)
        if m:
            out[side] = {"sent_bytes": int(m.group(1)), "dropped": int(m.group(3)),
                         "overlimits": int(m.group(4))}
    return out
