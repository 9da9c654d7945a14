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
