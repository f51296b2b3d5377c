"""BackgroundTracker: hooks run on one worker thread, in order, on copies; ends wait for it."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from nas.search.callbacks import SearchCallback
from nas.tracking import create_tracker
from nas.tracking.background import BackgroundTracker


class Recorder(SearchCallback):
    """A slow tracker that records what it was given and on which thread."""

    def __init__(self, fail_on: str = "") -> None:
        self.calls: list[tuple[str, object]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on
        self.closed = 0

    def _record(self, name: str, value: object) -> None:
        time.sleep(0.01)  # slower than the caller: the queue must hold the hooks in order
        self.threads.add(threading.current_thread().name)
        if name == self.fail_on:
            raise RuntimeError(f"{name} broke")
        self.calls.append((name, value))

    def on_search_start(self, study_name: str, config: dict) -> None:
        self._record("start", dict(config))

    def on_epoch(self, info: object, record: dict) -> None:
        self._record("epoch", dict(record))

    def on_search_end(self, summary: object) -> None:
        self._record("end", summary)

    def close(self) -> None:
        self.closed += 1


def test_hooks_run_in_order_on_copies_off_the_main_thread() -> None:
    inner = Recorder()
    bg = BackgroundTracker(inner)
    config = {"trials": 3}
    record = {"epoch": 0}
    t0 = time.perf_counter()
    bg.on_search_start("s", config)
    for epoch in range(1, 6):
        record["epoch"] = (
            epoch  # the loop reuses and changes its objects: the tracker must not see it
        )
        bg.on_epoch(None, record)
    config["trials"] = 99
    assert time.perf_counter() - t0 < 0.05  # six hooks of 10 ms each were not waited for
    bg.on_search_end("summary")  # waits for everything queued
    assert inner.calls == [("start", {"trials": 3})] + [
        ("epoch", {"epoch": e}) for e in range(1, 6)
    ] + [("end", "summary")]
    assert inner.threads and threading.current_thread().name not in inner.threads
    bg.close()
    bg.close()
    assert inner.closed == 1


def test_a_failing_hook_is_logged_and_the_rest_still_run(caplog: pytest.LogCaptureFixture) -> None:
    inner = Recorder(fail_on="start")
    bg = BackgroundTracker(inner)
    with caplog.at_level(logging.WARNING, logger="nas.tracking.background"):
        bg.on_search_start("s", {})
        bg.on_epoch(None, {"epoch": 1})
        bg.close()
    assert inner.calls == [("epoch", {"epoch": 1})]
    assert "Recorder.on_search_start failed: start broke" in caplog.text
    bg.on_epoch(None, {"epoch": 2})  # after close: ignored with a warning, never blocks
    assert "on_epoch after close ignored" in caplog.text


def test_factory_option() -> None:
    bg = create_tracker("console", background=True)
    assert isinstance(bg, BackgroundTracker)
    bg.close()
    assert not isinstance(create_tracker("console"), BackgroundTracker)
    with pytest.raises(ValueError, match=r"^logger: background must be true or false, got 'yes'$"):
        create_tracker("none", background="yes")
