"""The client checks its server: a server process of another uid (one planted at an address the
client was told about) is refused with NP_E_UNTRUSTED_PEER unless the client allows that uid."""
from __future__ import annotations

import os
import unittest

from nativepools import Client, NativePoolsError
from tests.test_ipc_support import HANG_GUARD_SECONDS, child_server_as_uid, spawn, unique_address

NOBODY = 65534
# NP_E_UNTRUSTED_PEER; a literal so the test also runs (and fails) against a library without it.
UNTRUSTED_PEER = -26


class ServerOfAnotherUid(unittest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to run a server process as another uid")
        self.address = unique_address("untrusted")
        self.ready, self.done = spawn.Event(), spawn.Event()
        self.child = spawn.Process(target=child_server_as_uid, args=(self.address, NOBODY, self.ready, self.done))
        self.child.start()
        self.addCleanup(self._stop_child)
        self.assertTrue(self.ready.wait(HANG_GUARD_SECONDS), "the server process of uid 65534 never started")

    def _stop_child(self):
        self.done.set()
        self.child.join(HANG_GUARD_SECONDS)
        if self.child.is_alive():
            self.child.kill()
            self.child.join()

    def test_client_refuses_a_server_of_another_uid(self):
        with self.assertRaises(NativePoolsError) as caught:
            Client.connect(self.address, timeout_ms=10_000).close()
        error = caught.exception
        self.assertEqual(error.status, UNTRUSTED_PEER, f"got {error.name}: {error.detail}")
        self.assertEqual(error.name, "NP_E_UNTRUSTED_PEER")
        self.assertIn(str(NOBODY), error.detail)

    def test_allowed_list_admits_the_server(self):
        with Client.connect(self.address, timeout_ms=10_000, allowed_server_uids=[NOBODY]) as client:
            self.assertEqual(client.call("echo", b"trusted"), b"trusted")
        # A list without that uid still refuses it.
        with self.assertRaises(NativePoolsError) as caught:
            Client.connect(self.address, timeout_ms=10_000, allowed_server_uids=[NOBODY - 1]).close()
        self.assertEqual(caught.exception.status, UNTRUSTED_PEER)


if __name__ == "__main__":
    unittest.main()
