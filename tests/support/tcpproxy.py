"""A TCP forwarder on loopback that a test can take down and bring back: a real network outage."""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    def __init__(self, *, target_port: int, port: int = 0) -> None:
        self.target_port = target_port
        self.port = port
        self._cuts: list[int] = []  # byte counts after which the next responses are cut mid-stream
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, like an endpoint that went away."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.reset_connections()

    def reset_connections(self) -> None:
        """Cut the open connections and keep accepting new ones: a blip on the network, not an outage."""
        with self._lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()
            self._connections.clear()

    def cut_next_response(self, *, after_bytes: int) -> None:
        """The next connection's answer stops after `after_bytes`: a reset in the middle of a download."""
        with self._lock:
            self._cuts.append(after_bytes)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
                cut = self._cuts.pop(0) if self._cuts else None
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, cut), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, cut_after: int | None = None) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if cut_after is not None and sent + len(data) > cut_after:
                    sink.sendall(data[: cut_after - sent])
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
