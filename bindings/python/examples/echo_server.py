"""A Python-hosted echo server: routes "echo" and "checksum", as bindings/c/examples/echo_server.c.

    python3 echo_server.py [address] [--seconds S]      # Ctrl-C (or SIGTERM) stops it
"""
import argparse
import signal

from nativepools import Server


def checksum(route_id: int, request: bytes) -> bytes:
    """The 64-bit FNV-1a of the request, 8 bytes little-endian (as echo_server.c answers)."""
    value = 0xCBF29CE484222325
    for byte in request:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFF_FFFF_FFFF_FFFF
    return value.to_bytes(8, "little")


parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("address", nargs="?", default="@nativepools-echo")
parser.add_argument("--seconds", type=float, help="stop after this long instead of at a signal")
args = parser.parse_args()

stop_signals = {signal.SIGINT, signal.SIGTERM}
signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # the server's threads inherit the mask
with Server(args.address, name="echo_server.py") as server:
    server.add_route("echo", lambda route_id, request: request)  # handlers run on a server thread
    server.add_route("checksum", checksum)
    server.start()
    print(f"listening on {args.address}", flush=True)
    if args.seconds:
        signal.sigtimedwait(stop_signals, args.seconds)
    else:
        signal.sigwait(stop_signals)
    server.stop(drain_timeout_ms=1000)  # answer the calls in flight, then close every connection
    s = server.stats()
    print(f"connections {s.connections_total}, requests {s.requests}, responses {s.responses}, "
          f"errors {s.error_responses}, buffer reuse {s.reuse_rate:.1%}")
