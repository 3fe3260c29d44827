#!/bin/sh
# The IPC demo: the C echo server, called from C and from Python. Run it from the repository
# root after ./build.sh.
set -e
address="@nativepools-demo-$$"            # Linux abstract namespace; a path works too
bindings/c/build/echo_server "$address" --seconds 60 &
server=$!
bindings/c/build/echo_client "$address" 100000 64     # 100,000 checked calls of 64 bytes
PYTHONPATH=bindings/python python3 bindings/python/examples/echo_client.py "$address"
kill -INT "$server"                       # stops with a one-second drain, prints its counters
wait "$server"
