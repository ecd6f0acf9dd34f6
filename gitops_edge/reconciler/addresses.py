"""Addresses to listen on, as the command line writes them (`--listen`, `--metrics-addr`,
`--health-addr`): `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` for every IPv4 interface (as Prometheus
exporters and controller-runtime read it). Pure: no side effects.
"""

from __future__ import annotations

ALL_INTERFACES = "0.0.0.0"  # what `:PORT` means


def parse_address(value: str, *, example: str) -> tuple[str, int]:
    """(host, port) of `value`; ValueError saying how to write it (with `example`) otherwise."""
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not port.isdigit() or int(port) > 65535 or (host == "" and value[0] != ":"):
        raise ValueError(f"{value!r}: write HOST:PORT or :PORT, e.g. {example}")
    return host or ALL_INTERFACES, int(port)
