"""uid ranges of concurrent grading processes cannot collide (isolation/uids.py).

Before, a process's range was ``200_000 + (pid % 8000) * 256``: two grading processes whose
pids are equal modulo 8000 shared their uids (and so one RLIMIT_NPROC count). Now each claims
a range by an exclusive flock held while it lives; ``start`` stands for "the pids collide".
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.isolation import uids
from autograder.isolation.uids import FIRST_UID, RANGE_SIZE, UidPool, claim_range

ROOT = Path(__file__).resolve().parents[2]

HOLDER = r"""
import sys
from pathlib import Path
from autograder.isolation.uids import UidPool
pool = UidPool(Path(sys.argv[1]), start=int(sys.argv[2]))
print(pool.acquire(), flush=True)
sys.stdin.read()          # hold the range until the test closes our stdin
"""


def _holder(directory: Path, start: int) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory), str(start)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def _range_of(uid: int) -> int:
    return (uid - FIRST_UID) // RANGE_SIZE


def test_two_processes_whose_pids_would_collide_get_disjoint_ranges(tmp_path):
    proc, uid_a = _holder(tmp_path, 5)
    try:
        pool = UidPool(tmp_path, start=5)
        got = [pool.acquire() for _ in range(3)]
        assert _range_of(uid_a) == 5, "the first process takes the range its pid points at"
        assert {_range_of(u) for u in got} == {6}, ("the second process with the same start must take "
                                                    f"another range, got {got} beside {uid_a}")
        assert not set(range(FIRST_UID + 5 * RANGE_SIZE, FIRST_UID + 6 * RANGE_SIZE)) & set(got)
        assert len(set(got)) == 3
        pool.close()
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    # the holder is gone: its range is free again
    again = UidPool(tmp_path, start=5)
    assert _range_of(again.acquire()) == 5
    again.close()


def test_a_stale_claim_of_a_dead_process_is_reused(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)
    (tmp_path / "range-7.lock").write_text(f"{pid}\n")       # left behind by a process that died
    pool = UidPool(tmp_path, start=7)
    uid = pool.acquire()
    assert _range_of(uid) == 7, uid
    assert (tmp_path / "range-7.lock").read_text() == f"{os.getpid()}\n"
    pool.release(uid)
    assert uid - FIRST_UID - 7 * RANGE_SIZE in pool.free, "a released uid is handed out again"
    pool.release(FIRST_UID)                                    # not this process's: ignored
    assert len(pool.free) == RANGE_SIZE
    pool.close()


def test_a_claim_held_in_this_process_is_not_handed_out_twice(tmp_path):
    k, fd = claim_range(tmp_path, start=3)
    try:
        k2, fd2 = claim_range(tmp_path, start=3)
        os.close(fd2)
        assert (k, k2) == (3, 4)
    finally:
        os.close(fd)


def test_nothing_is_claimed_at_import_and_the_folder_must_be_ours(tmp_path, monkeypatch):
    assert UidPool(tmp_path).fd is None and not list(tmp_path.iterdir()), "a range is claimed at first use"
    monkeypatch.setenv(uids.CLAIMS_ENV, str(tmp_path / "claims"))
    assert uids.claims_dir() == tmp_path / "claims"
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir()
        os.chown(theirs, 12345, 12345)
        with pytest.raises(PermissionError, match="not a folder of uid 0"):
            claim_range(theirs)
