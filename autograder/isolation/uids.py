"""The uid pool: one unprivileged uid per concurrent sandbox of this process (root backend),
so RLIMIT_NPROC counts per sandbox."""
from __future__ import annotations

import os
import threading


class UidPool:
    """Distinct unprivileged uids for concurrent sandboxes of this process."""

    def __init__(self, base: int, size: int = 256):
        self.base = base
        self.free = list(range(size))
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)

    def acquire(self) -> int:
        with self.cond:
            while not self.free:
                self.cond.wait()
            return self.base + self.free.pop(0)

    def release(self, uid: int) -> None:
        with self.cond:
            self.free.append(uid - self.base)
            self.cond.notify()


UIDS = UidPool(base=200_000 + (os.getpid() % 8000) * 256)
