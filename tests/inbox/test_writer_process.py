"""The ingest writer's own process: its life, its death, and nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bridge.delivery.serial import write_connection
from bridge.errors import StorageUnavailable
from bridge.inbox.process import WriterProcess
from bridge.inbox.store import Disposition
from bridge.store.db import make_engine
from bridge.store.migrate import upgrade
from bridge.store.models import DeliveryStatus
from tests.harness import event_body, running_bridge, settings_for, violet_standin, wait_until
from tests.inbox.test_store import NOW, deliveries, incoming


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone. It may also be reaped
    # between the two looks: /proc then refuses the read (ESRCH) or the open (ENOENT).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_a_batch_is_stored_and_answered_in_order(engine: Engine) -> None:
    async def run() -> list[tuple[int, Disposition, bool]]:
        process = WriterProcess(_url(engine), wal_autocheckpoint=True)
        await process.start()
        try:
            first = await process.write([incoming(10, entity=1), incoming(11, entity=2)], NOW)
            second = await process.write([incoming(9, entity=1), incoming(10)], NOW)
        finally:
            await process.stop()
        return [
            (s.delivery_id, s.disposition, bool(s.event and s.event.superseded))
            for s in first + second
        ]

    results = asyncio.run(run())
    assert [(d, superseded) for _, d, superseded in results] == [
        (Disposition.ACCEPTED, False),
        (Disposition.ACCEPTED, False),
        (Disposition.SUPERSEDED, True),  # older than event 10 of the same object
        (Disposition.DUPLICATE, False),
    ]
    assert results[3][0] == results[0][0]  # the duplicate names the first delivery
    rows = deliveries(engine)
    assert [(r.event_id, r.status) for r in rows] == [
        (10, DeliveryStatus.PENDING),
        (11, DeliveryStatus.PENDING),
        (9, DeliveryStatus.SUPERSEDED),
    ]


def test_stop_ends_the_process(engine: Engine) -> None:
    async def run() -> int:
        process = WriterProcess(_url(engine), wal_autocheckpoint=True)
        await process.start()
        pid = process.pid
        assert pid is not None
        assert not _gone(pid)
        await process.stop()
        return pid

    assert _gone(asyncio.run(run()))


def test_sigint_and_sigterm_are_left_to_serve(engine: Engine) -> None:
    """Ctrl-C or a service manager's SIGTERM reach every process of the group: the writer
    process keeps going (serve stops it by closing the pipe once its queue is written)."""

    async def run() -> tuple[int | None, int | None, list[Disposition]]:
        process = WriterProcess(_url(engine), wal_autocheckpoint=True)
        await process.start()
        try:
            pid = process.pid
            assert pid is not None
            os.kill(pid, signal.SIGINT)
            os.kill(pid, signal.SIGTERM)
            stored = await process.write([incoming(1)], NOW)
            stored += await process.write([incoming(2)], NOW)  # surely after both signals
            assert process.alive
            return pid, process.pid, [s.disposition for s in stored]
        finally:
            await process.stop()

    before, after, dispositions = asyncio.run(run())
    assert before == after
    assert dispositions == [Disposition.ACCEPTED] * 2


def test_a_database_it_cannot_open_fails_the_start_with_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    process = WriterProcess(f"sqlite:///{blocker}/bridge.db", wal_autocheckpoint=True)
    with pytest.raises(StorageUnavailable, match="could not start"):
        asyncio.run(process.start())


def test_death_mid_batch_fails_that_batch_and_the_next_batch_starts_a_new_process(
    tmp_path: Path,
) -> None:
    """The process is killed while it waits for the write lock: that batch fails with
    StorageUnavailable (ION gets a 503 and retries) and stored nothing; the next batch goes
    through a new process."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    engine = make_engine(url)
    upgrade(engine)

    async def run() -> tuple[int, int | None]:
        process = WriterProcess(url, wal_autocheckpoint=True)
        await process.start()
        first_pid = process.pid
        assert first_pid is not None
        try:
            with write_connection(engine):  # holds the write lock: the batch must wait
                pending = asyncio.ensure_future(process.write([incoming(1)], NOW))
                await asyncio.sleep(0)  # let the batch go out
                os.kill(first_pid, signal.SIGKILL)
                with pytest.raises(StorageUnavailable, match="stopped"):
                    await pending
            stored = await process.write([incoming(2)], NOW)
            assert [s.disposition for s in stored] == [Disposition.ACCEPTED]
            return first_pid, process.pid
        finally:
            await process.stop()

    first_pid, second_pid = asyncio.run(run())
    assert second_pid not in (None, first_pid)
    assert [r.event_id for r in deliveries(engine)] == [2]
    engine.dispose()


def test_a_cancelled_batch_does_not_take_the_next_batchs_answer(tmp_path: Path) -> None:
    """A batch cancelled while its process is busy: the next batch goes to a new process and
    gets its own answer (the cancelled one may still be stored, as a request cancelled while
    its row is written)."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    engine = make_engine(url)
    upgrade(engine)

    async def run() -> tuple[list[int], int | None, int | None]:
        process = WriterProcess(url, wal_autocheckpoint=True)
        await process.start()
        first_pid = process.pid
        try:
            with write_connection(engine):
                pending = asyncio.ensure_future(process.write([incoming(1)], NOW))
                await asyncio.sleep(0)
                pending.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await pending
            stored = await process.write([incoming(2), incoming(3)], NOW)
            return [s.delivery_id for s in stored], first_pid, process.pid
        finally:
            await process.stop()

    ids, first_pid, second_pid = asyncio.run(run())
    assert second_pid != first_pid
    rows = {r.id: r.event_id for r in deliveries(engine)}
    assert [rows[i] for i in ids] == [2, 3]
    engine.dispose()


def test_the_process_exits_when_serve_is_killed(tmp_path: Path) -> None:
    """kill -9 of its parent closes the pipe, and the writer process ends by itself."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        from bridge.inbox.process import WriterProcess

        async def main():
            process = WriterProcess({url!r}, wal_autocheckpoint=True)
            await process.start()
            print(process.pid, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    parent = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    child = int(parent.stdout.split()[-1])  # its last line (a log line comes first)
    wait_until(lambda: _gone(child), what="the orphaned writer process to exit")


def test_serve_keeps_every_acknowledged_delivery_when_its_writer_process_dies(
    tmp_path: Path,
) -> None:
    """Kill the writer process under `serve` twice: ION's deliveries before, between and after
    all answer 200 (a new process takes over) and all reach Violet."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    with violet_standin() as violet, running_bridge(settings_for(url, violet.hook_url)) as running:
        process = running.bridge.writer.process
        assert process is not None
        acknowledged = []
        for event_id in range(1, 31):
            if event_id in (11, 21):
                pid = process.pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                wait_until(lambda pid=pid: _gone(pid), what="the writer process to die")
            response = running.post(event_body(event_id, entity=event_id % 4))
            if response.status_code == 200:
                acknowledged.append(event_id)
        wait_until(lambda: len(violet.event_ids()) >= len(acknowledged), what="delivery")
    assert acknowledged == list(range(1, 31))
    assert sorted(violet.event_ids()) == acknowledged
