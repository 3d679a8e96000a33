"""The runtime's port book: dynos and routers never share a port."""

from __future__ import annotations

from pathlib import Path

from herotasks_sandbox.runtime.dyno import Ports


def ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def test_a_port_is_handed_out_once_until_it_is_given_back():
    ports = Ports()
    taken = [ports.take() for _ in range(60)]
    assert len(set(taken)) == len(taken)
    if ephemeral_low() > 11000:
        # Below the ephemeral range: no outgoing connection takes it first.
        assert all(10000 <= p < ephemeral_low() for p in taken)
    swapped = ports.swap(taken[0])
    assert swapped not in taken[1:]
