"""`serve --workers N`: N server processes on one listening socket, and a supervisor that keeps them.

The supervisor binds the socket, then starts N processes (spawned, not forked: each imports localviyo
afresh and builds its own app and store from `factory`), handing each the socket; the kernel spreads the
connections among them. A worker that dies is started again; SIGINT or SIGTERM to the supervisor stops
every worker (SIGTERM, the same graceful stop as one process) and then the supervisor.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from multiprocessing.process import BaseProcess

from localviyo.http.listener import bind

log = logging.getLogger("localviyo")

STOP_TIMEOUT = 15.0  # seconds a worker has to finish its answers before it is killed


def serve_workers(factory: str, host: str, port: int, workers: int, log_level: str) -> None:
    """Run `workers` processes, each serving the app `factory` ("module:function") makes, until stopped."""
    sock = bind(host, port)
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    processes: list[BaseProcess] = []

    def start() -> BaseProcess:
        process = context.Process(target=_worker, args=(factory, sock, log_level), daemon=False)
        process.start()
        return process

    try:
        processes = [start() for _ in range(workers)]
        log.info("localviyo: %d workers serving on http://%s:%d", workers, *sock.getsockname()[:2])
        while not stop.wait(0.5):
            for index, process in enumerate(processes):
                if not process.is_alive():
                    log.warning("localviyo: worker %s exited (%s); starting another", process.pid, process.exitcode)
                    processes[index] = start()
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: the worker's graceful stop
        for process in processes:
            process.join(STOP_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()
        sock.close()


def _worker(factory: str, sock: socket.socket, log_level: str) -> None:
    from localviyo.http.server import Server, load_app, log_to_stderr

    log_to_stderr(log_level)
    Server(load_app(factory, factory=True), sock=sock, access_log=log_level == "debug").run()
