"""One writer at a time in a run directory: an exclusive `flock` on its `lock` file, held while a command
writes there and released by the system when the process ends however it ends (`kill -9` included). The
file names the holder (command, process, host, start time) for whoever is refused. Re-entrant within a
process: `run_all` holds it across the steps that each take it.
"""

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from stochpop.results.integrity import StoreError

LOCK_FILE = "lock"
_held: dict[Path, IO[str]] = {}
"""Locks this process holds: directory -> its open lock file."""


class RunLockedError(StoreError):
    """Another process is writing the run directory."""


@contextmanager
def run_lock(directory: Path, command: str) -> Iterator[None]:
    """Hold `directory`'s lock (creating the directory) for `command`, e.g. "project"; RunLockedError
    naming the holder if another process holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory.resolve()
    if key in _held:  # held already by an enclosing step of this process
        yield
        return
    file = open(directory / LOCK_FILE, "a+")
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        holder = _describe(file.read())
        file.close()
        raise RunLockedError(f"{directory}: in use by {holder}; wait for it to finish (or stop it)") from None
    file.truncate(0)
    file.write(
        json.dumps(
            {
                "command": command,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            }
        )
    )
    file.flush()
    _held[key] = file
    try:
        yield
    finally:
        del _held[key]
        file.close()  # releases the lock


def _describe(text: str) -> str:
    try:
        holder = json.loads(text)
        process = f"process {holder['pid']} on {holder['host']} since {holder['since']}"
        return f"`stochpop {holder['command']}` ({process})"
    except (ValueError, KeyError, TypeError):
        return "another process"
