"""The embedded queue server of the one-machine `run` command: moto's SQS on 127.0.0.1.

It starts in about a second, costs about 50 MB and speaks the same SQS API as AWS and LocalStack,
so workers run the one code path. It lives only as long as the run: the destination, not the
queue, remembers what is done, and the next run's director rebuilds the queue.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from types import TracebackType

from moto.server import ThreadedMotoServer


class EmbeddedSQS:
    def __init__(self) -> None:
        # Port 0: the OS picks a free port, read back after start (no race with other servers).
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""

    def __enter__(self) -> EmbeddedSQS:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        # werkzeug's server looks for a shutdown request between select() calls of 0.5 s:
        # every run ended half a second after its last file. A connection wakes the select
        # so the request is seen at once; repeated, since one may come before the request.
        stopping = threading.Thread(target=self._server.stop, name="embedded-sqs-stop")
        stopping.start()
        host, port = self._server.get_host_and_port()
        while stopping.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection((host, port), timeout=0.5).close()
            stopping.join(0.02)
