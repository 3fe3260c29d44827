"""Calls the "echo" route of an echo server (echo_server.py or bindings/c/examples/echo_server.c).

    python3 echo_client.py [address]
"""
import sys

from nativepools import Client

address = sys.argv[1] if len(sys.argv) > 1 else "@nativepools-echo"
with Client.connect(address, timeout_ms=5000) as client:  # waits up to 5 s for the server to listen
    echo = client.resolve("echo")  # resolve once, call many times
    reply = client.call(echo, b"hello from Python", timeout_ms=5000)
    print(f"{address} answered {reply!r} (messages up to {client.max_message_size} bytes)")
