"""Processes seen through /proc, for the tests that kill runs and look for what outlived them."""

from __future__ import annotations

import os


def live_processes(where) -> list[int]:
    """Live processes (not zombies, not this one) for which ``where(pid, ppid, cmdline)`` holds."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] != "Z" and where(int(entry.name), int(fields[1]), cmdline):
            found.append(int(entry.name))
    return found


def catches(pid: int, signum: int, running: str) -> bool:
    """Whether process ``pid`` runs ``running`` (its command line, so: after its ``exec``, which resets every
    handler) and has a handler installed for signal ``signum`` (its ``SigCgt`` mask in /proc). A Python
    child catches SIGINT once its interpreter has started, and not before: a Ctrl-C sent earlier kills it
    outright, or is ignored where the shell that started pytest ignores SIGINT."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if running not in handle.read().replace(b"\0", b" ").decode(errors="replace"):
                return False
        with open(f"/proc/{pid}/status") as handle:
            caught = next(line.split()[1] for line in handle if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(int(caught, 16) >> (signum - 1) & 1)
