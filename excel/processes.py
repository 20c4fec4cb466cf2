"""Starting and ending the worker processes of :mod:`llmcalc.excel.runner`.

On POSIX a *fork server* does it: one small process (``python -m llmcalc.excel.processes``) that
has imported and warmed llmcalc, and forks a worker whenever the server asks, handing it one end
of a socket pair. A fresh worker is ready in a few milliseconds, so ending a worker at a deadline
and starting another costs nothing noticeable. (``multiprocessing``'s own forkserver would re-run
the server's ``__main__`` script in every new worker.) The fork server reaps its children; it
exits when the server's process does, and each worker when its socket closes.

Elsewhere (Windows) workers are started with ``multiprocessing``'s spawn method: slower (each
imports llmcalc), so a script that builds the app there must do it under
``if __name__ == "__main__":``.
"""
from __future__ import annotations

import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading

_SIZE = struct.Struct("<I")
_PID = struct.Struct("<i")


class WorkerProcess:
    """A started worker: its pid and the server's end of its socket."""

    def __init__(self, pid: int, sock: socket.socket, process=None):
        self.pid, self.sock, self._process = pid, sock, process

    def kill(self) -> None:
        """End the worker now (SIGKILL: whatever it is computing stops) and close its socket."""
        try:
            if self._process is not None:
                self._process.kill()
                self._process.join(5)
            else:
                os.kill(self.pid, signal.SIGKILL)
        except (OSError, ValueError):  # already gone
            pass
        self.sock.close()


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the fork server has exited")
        data += chunk
    return data


class ForkServer:
    """The fork server of this process (started on first use, restarted if it died)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None

    def _ensure_running(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._stop()
        ours, theirs = socket.socketpair()
        # One BLAS thread: the workers compute elementwise, and a process without threads forks cleanly.
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self._proc = subprocess.Popen([sys.executable, "-m", "llmcalc.excel.processes", str(theirs.fileno())],
                                      pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env)
        theirs.close()
        self._sock = ours
        if _recv_exact(ours, 1) != b"R":  # imported and warm
            raise RuntimeError("the fork server did not start")

    def _stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self._proc = self._sock = None

    def start(self, args: tuple) -> WorkerProcess:
        """Fork a worker that runs ``worker.serve(sock, *args)``."""
        payload = pickle.dumps((list(sys.path), pickle.dumps(args)))
        message = _SIZE.pack(len(payload)) + payload
        with self._lock:
            for attempt in range(2):
                try:
                    self._ensure_running()
                    ours, theirs = socket.socketpair()
                    try:
                        sent = socket.send_fds(self._sock, [message], [theirs.fileno()])
                        self._sock.sendall(message[sent:])
                    finally:
                        theirs.close()
                    pid = _PID.unpack(_recv_exact(self._sock, _PID.size))[0]
                    return WorkerProcess(pid, ours)
                except (OSError, EOFError):
                    self._stop()
                    if attempt:
                        raise
        raise AssertionError("unreachable")


class Spawner:
    """Where there is no fork: ``multiprocessing`` spawn (each worker imports llmcalc itself)."""

    def start(self, args: tuple) -> WorkerProcess:
        import multiprocessing

        from .worker import serve

        ours, theirs = socket.socketpair()
        process = multiprocessing.get_context("spawn").Process(target=serve, args=(theirs, *args), daemon=True)
        try:
            process.start()
        finally:
            theirs.close()
        return WorkerProcess(process.pid, ours, process)


_STARTER = None
_STARTER_LOCK = threading.Lock()


def starter():
    """The process-wide way to start workers: the fork server on POSIX, else spawn."""
    global _STARTER
    with _STARTER_LOCK:
        if _STARTER is None:
            _STARTER = ForkServer() if hasattr(socket, "send_fds") and hasattr(os, "fork") else Spawner()
        return _STARTER


# ------------------------------------------------------------------------------------------
# The fork server process itself


def _serve_forks(sock: socket.socket) -> None:
    from .worker import serve, warm_up

    warm_up()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers: no zombies
    sock.sendall(b"R")
    while True:
        data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 1)
        if not data:
            return  # the server has exited
        size = _SIZE.unpack(data[:_SIZE.size])[0]
        data = data[_SIZE.size:]
        if len(data) < size:
            data += _recv_exact(sock, size - len(data))
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                sock.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                path, args = pickle.loads(data)
                sys.path[:] = path
                serve(socket.socket(fileno=fds[0]), *pickle.loads(args))
            except BaseException:  # noqa: BLE001 - reported on stderr, the server sees the socket close
                import traceback
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        os.close(fds[0])
        sock.sendall(_PID.pack(pid))


if __name__ == "__main__":
    _serve_forks(socket.socket(fileno=int(sys.argv[1])))
