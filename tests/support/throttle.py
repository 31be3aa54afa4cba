"""A TCP proxy on 127.0.0.1 that limits the rate of what the server sends back: a slow
registry for progress tests (TLS passes through untouched)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class ThrottledProxy:
    """Listens on 127.0.0.1:<free port> and forwards each connection to 127.0.0.1:``target``,
    the server's bytes at most ``rate`` bytes a second per connection. A context manager."""

    def __init__(self, target: int, rate: int) -> None:
        self.target = target
        self.rate = rate
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sent = 0

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` of the proxy."""
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> ThrottledProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self._spawn(self._pump, client, server, None)
            self._spawn(self._pump, server, client, self.rate)

    def _pump(self, source: socket.socket, sink: socket.socket, rate: int | None) -> None:
        """Copy until either side closes; with ``rate``, a tenth of it every tenth second."""
        chunk = max(rate // 10, 1) if rate else 65536
        source.settimeout(0.5)
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    data = source.recv(chunk)
                except TimeoutError:
                    continue
                if not data:
                    break
                sink.sendall(data)
                if rate:
                    self.sent += len(data)
                    time.sleep(max(0.0, 0.1 - (time.monotonic() - began)))
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    end.close()
