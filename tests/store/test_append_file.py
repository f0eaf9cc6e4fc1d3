"""The append-only temporary file behind the site states and the report spool: appends
gathered and written in batches, every record read back exactly, whenever it is read."""

from __future__ import annotations

import os
import random
import threading

from reconciler._append_file import AppendFile


def records(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes([n % 251]) * rng.choice([1, 90, 1_500, 70_000]) for n in range(count)]


def test_every_record_reads_back_exactly_before_and_after_its_batch_is_written() -> None:
    file = AppendFile("test-")
    kept: list[tuple[int, bytes]] = []
    for data in records(200, seed=1):
        kept.append((file.append(data), data))
        offset, last = kept[-1]
        assert file.read(offset, len(last)) == last  # read at once: maybe not written yet
    for offset, data in kept:
        assert file.read(offset, len(data)) == data
        window, at = file.read_ahead(offset, len(data))
        assert window[at : at + len(data)] == data
    file.close()


def test_records_read_ahead_in_any_order_come_back_exactly() -> None:
    file = AppendFile("test-")
    kept = [(file.append(data), data) for data in records(120, seed=2)]
    random.Random(3).shuffle(kept)
    for offset, data in kept:
        window, at = file.read_ahead(offset, len(data))
        assert window[at : at + len(data)] == data


def test_appends_from_many_threads_each_get_their_own_place() -> None:
    file = AppendFile("test-")
    kept: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def append(worker: int) -> None:
        for n in range(300):
            data = f"{worker}:{n};".encode() * (n % 7 + 1)
            offset = file.append(data)
            with lock:
                kept.append((offset, data))

    threads = [threading.Thread(target=append, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({offset for offset, _ in kept}) == len(kept) == 2_400
    assert all(file.read(offset, len(data)) == data for offset, data in kept)


def test_the_file_is_private_and_unnamed() -> None:
    file = AppendFile("test-")
    file.append(b"x")
    status = os.fstat(file._fd)
    assert status.st_mode & 0o777 == 0o600 and status.st_nlink == 0
    file.close()
