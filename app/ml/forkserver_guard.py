"""What every job forkserver runs first, whatever it preloads (``app.ml.worker_preload``: the
ML libraries; ``app.services.report_preload``: the PDF renderer): it ends with its parent, its
workers end with it, the thread limits are set before any library loads, and the cyclic GC
is paused while the libraries load (``preloaded()`` ends the pause).

Imported only in a forkserver process (``app.jobs``), never in the workbench's own process.
The thread limits are set before the libraries load, as ``app.ml.worker`` does for a worker:
on two cores more BLAS/OpenMP threads fight the UI and each other, and a library's thread pool
must not exist yet when the server forks.
"""

from __future__ import annotations

import atexit
import gc
import os
import threading
import time

from app.ml.worker import FORKSERVER_PARENT, THREAD_VARIABLES


def _exit_with_parent(parent: int) -> None:
    """The forkserver notices its parent's death only once this preload has finished and its
    loop reads the closed pipe, and then exits slowly with these libraries loaded; killed mid-
    import, it lingered for seconds holding ~250 MB (and the resource tracker with it). This
    thread ends it within a tenth of a second of the parent's death instead. Threads do not
    survive a fork, so the workers forked from here never inherit it. The parent's pid comes
    from the environment it spawned the server with: by the time this runs, a parent that died
    during the server's start-up has already been replaced by init or a subreaper."""
    while os.getppid() == parent:
        time.sleep(0.1)
    os._exit(0)


def _die_with_this_server(server: int) -> None:
    """In each job worker forked from here: the kernel sends it SIGKILL when this server ends.
    A worker also watches its requester's death itself (``app.ml.worker``), but that watcher is
    Python and needs the GIL, which a fit in C can hold for a second or more; the server is idle
    in its loop, its watchdog above ends it within 0.1 s, and this signal needs no GIL. (Only
    for workers forked by the server's main thread, which lives as long as the server.)"""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        return
    if os.getppid() != server:  # the server ended before the request above took effect
        os._exit(0)


os.register_at_fork(after_in_child=lambda server=os.getpid(): _die_with_this_server(server))
# The server's own loop usually sees its parent's death first (the alive pipe closes) and raises
# SystemExit; tearing these libraries' modules down then holds the GIL for a second or more on a
# busy machine, with the watchdog frozen. Nothing here needs a clean teardown: end at once.
# (Workers forked from here leave through os._exit and never run this.)
atexit.register(os._exit, 0)
threading.Thread(target=_exit_with_parent, args=(int(os.environ.get(FORKSERVER_PARENT) or os.getppid()),),
                 name="mlwb-exit-with-parent", daemon=True).start()

for _variable in THREAD_VARIABLES:
    os.environ[_variable] = "1"


def preloaded() -> None:
    """The last line of a preload module: move everything it imported into the GC's permanent
    generation and let the GC run again. The imports ran with the GC paused (dozens of collections that
    would free nothing), and the workers forked from here never walk those objects in their own
    collections (the ``gc.freeze`` docs' pattern for a server that forks): 0.1 s less to preload
    the renderer, 0.2 s less to a report's render."""
    gc.freeze()
    gc.enable()


gc.disable()
