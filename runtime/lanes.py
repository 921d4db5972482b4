"""Parallel traces in one batch: several sequences on one model, each a Backend of its own (a lane).

A decode step on a CPU is memory-bound: it streams every weight once, whatever the number of sequences, so a step
that advances B sequences costs far less than B steps. Each trace runs its unchanged decode loop (`generate`, the
exit policies, the answer probe) in a thread of its own against a lane; a lane's forward waits until every running
lane has asked for one, and then one call runs all the single-token steps together (a probe's or the calculator's
multi-token forward runs on its own row). So every trace sees exactly the tokens, logits and hidden states it
would see alone, and a vote's answer does not depend on how many traces ran at once.

The prompt is prefilled once, in the parent backend's cache; each lane copies it into its own row (the prompt is
stored once per lane: the backends' attention has no shared-prefix block). Sequences end independently and free
their row (the last row moves into it, so the running rows stay contiguous), and a waiting trace takes it.
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from .backends.base import Backend

R = TypeVar("R")
# A trace to run: given its lane and the event that ends it early (the vote is settled, or the client left).
Job = Callable[[Backend, threading.Event], R]


class Rows(Protocol):
    """A backend's cache for `capacity` sequences (runtime.backends.onnx.KVRows)."""

    capacity: int

    def run(self, first: int, positions: Sequence[int], tokens: Sequence[Sequence[int]]
            ) -> tuple[np.ndarray, np.ndarray | None]: ...

    def take_prefix(self, row: int, num_tokens: int) -> None: ...

    def move(self, source_row: int, row: int, num_tokens: int) -> None: ...


class Lane(Backend):
    """One row of a Lanes group: a Backend whose forwards are batched with the other running lanes'."""

    def __init__(self, group: "Lanes", row: int):
        self.info = group.parent.info
        self.has_hidden = group.parent.has_hidden
        self.row = row
        self._group = group
        self._tokens = []
        self.request: list[int] | None = None  # tokens waiting for a forward
        self.reply: tuple[np.ndarray, np.ndarray | None] | BaseException | None = None

    def _forward(self, tokens: Sequence[int]) -> np.ndarray:
        logits, self._hidden = self._group.forward(self, list(tokens))
        return logits

    def prefill_reusing(self, tokens: Sequence[int]) -> np.ndarray:
        """As Backend's, but the prefix may come from the parent's cache (the prompt, prefilled once)."""
        keep = min(self._group.parent.common_prefix(tokens), len(tokens) - 1)
        if keep > min(self.common_prefix(tokens), len(tokens) - 1):
            self._group.rows.take_prefix(self.row, keep)
            self._tokens = list(tokens[:keep])
            return self.prefill(tokens[keep:])
        return super().prefill_reusing(tokens)


@dataclass
class _Running:
    """A job and its lane, while it runs."""

    index: int
    lane: Lane
    stop: threading.Event
    thread: threading.Thread | None = None
    done: bool = False
    result: object = None
    error: BaseException | None = None


class Lanes:
    """Up to `capacity` traces decoded together on `parent`'s model (`Backend.lanes`)."""

    def __init__(self, parent: Backend, rows: Rows):
        self.parent, self.rows, self.capacity = parent, rows, rows.capacity
        self._cv = threading.Condition()
        self._active = False
        self.forwards = 0  # model calls made for the lanes (a batched step counts once)

    def run(self, jobs: Sequence[Job], *, parallel: int, stop: Callable[[list], bool] | None = None,
            cancel: threading.Event | None = None) -> list:
        """Run `jobs` in order, up to `parallel` at once, and return their results in order.

        `stop(results)` is asked each time the finished jobs form a longer unbroken prefix (jobs 0..k); once it is
        true, the jobs still running are ended and the prefix is returned, exactly what running the jobs one after
        another and asking `stop` after each would return. `cancel` set: the running jobs end at their next token
        and are returned with those before them; no job starts.

        Raises:
            whatever a job raised (the other jobs are ended first).
        """
        parallel = max(1, min(parallel, self.capacity))
        results: dict[int, object] = {}
        waiting = list(range(len(jobs)))
        running: list[_Running] = []
        prefix, settled, cancelled = 0, False, False
        self._active = True
        try:
            while True:
                while not (settled or cancelled) and waiting and len(running) < parallel:
                    self._start(running, waiting.pop(0), jobs)
                if not running:
                    break
                with self._cv:
                    self._cv.wait_for(lambda: all(r.done or r.lane.request is not None for r in running))
                for r in [r for r in running if r.done]:
                    r.thread.join()
                    if r.error is not None:
                        raise r.error
                    results[r.index] = r.result
                    self._free(running, r)
                while not settled and prefix in results:  # a job ended by the stop rule is not part of the result
                    prefix += 1
                    settled = stop is not None and stop([results[i] for i in range(prefix)])
                cancelled = cancelled or (cancel is not None and cancel.is_set())
                if settled or cancelled:
                    waiting.clear()
                    for r in running:
                        r.stop.set()
                self._serve(running)
        finally:
            self._end(running)
        return [results[i] for i in range(prefix)]

    def forward(self, lane: Lane, tokens: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
        """Called from a lane's thread: wait for this forward's turn in the next batch."""
        if not self._active:  # outside `run` (a lane used on its own): run it now
            logits, hidden = self.rows.run(lane.row, [lane.position], [tokens])
            return logits[0, -1], None if hidden is None else hidden[0]
        with self._cv:
            lane.request, lane.reply = tokens, None
            self._cv.notify_all()
            self._cv.wait_for(lambda: lane.reply is not None)
            reply, lane.reply = lane.reply, None
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def _start(self, running: list[_Running], index: int, jobs: Sequence[Job]) -> None:
        r = _Running(index, Lane(self, len(running)), threading.Event())

        def body() -> None:
            try:
                r.result = jobs[index](r.lane, r.stop)
            except BaseException as e:  # handed to `run`, which raises it in the caller's thread
                r.error = e
            finally:
                with self._cv:
                    r.done = True
                    self._cv.notify_all()

        r.thread = threading.Thread(target=body, name=f"lane-{index}", daemon=True)
        running.append(r)
        r.thread.start()

    def _free(self, running: list[_Running], finished: _Running) -> None:
        """Drop a finished job's row; the last row moves into it (every running lane is waiting, so none moves
        under its own feet)."""
        last = max(running, key=lambda r: r.lane.row)
        if last is not finished:
            self.rows.move(last.lane.row, finished.lane.row, last.lane.position)
            last.lane.row = finished.lane.row
        running.remove(finished)

    def _serve(self, running: list[_Running]) -> None:
        """Answer every waiting lane: multi-token forwards one row at a time, then all single tokens in one call."""
        asking = [r.lane for r in running if r.lane.request is not None]
        replies: dict[int, tuple] = {}
        after = {lane.row: lane.position + len(lane.request) for lane in asking}  # each row's length once served
        for lane in asking:
            if len(lane.request) > 1:
                logits, hidden = self.rows.run(lane.row, [lane.position], [lane.request])
                replies[lane.row] = (logits[0, -1], None if hidden is None else hidden[0])
                self.forwards += 1
        singles = {lane.row: lane for lane in asking if len(lane.request) == 1}
        for first, rows in _runs(sorted(singles), after, self.parent.info.max_seq_len):
            # A row in the range that asked for more than one token steps a throwaway token at its new length:
            # the caches are position-addressed, so that entry is overwritten before anything reads it.
            positions = [singles[i].position if i in singles else after[i] for i in rows]
            tokens = [singles[i].request if i in singles else [0] for i in rows]
            logits, hidden = self.rows.run(first, positions, tokens)
            self.forwards += 1
            for k, i in enumerate(rows):
                if i in singles:
                    replies[i] = (logits[k, -1], None if hidden is None else hidden[k])
        with self._cv:
            for lane in asking:
                lane.request, lane.reply = None, replies[lane.row]
            self._cv.notify_all()

    def _end(self, running: list[_Running]) -> None:
        """Stop every job still running (a job raised, or the caller is unwinding) and wait for its thread."""
        self._active = False
        for r in running:
            r.stop.set()
        while any(not r.done for r in running):
            with self._cv:
                for r in running:
                    if r.lane.request is not None:
                        r.lane.request, r.lane.reply = None, RuntimeError("the batch ended")
                self._cv.notify_all()
                self._cv.wait_for(lambda: all(r.done or r.lane.request is not None for r in running), timeout=1.0)
        for r in running:
            r.thread.join()


def _runs(rows: list[int], lengths: dict[int, int], max_seq_len: int) -> list[tuple[int, list[int]]]:
    """Contiguous row ranges covering `rows`; a row between them may fill a gap only if its cache has room for the
    throwaway token."""
    out: list[tuple[int, list[int]]] = []
    for row in rows:
        if out and all(lengths.get(i, max_seq_len) < max_seq_len for i in range(out[-1][1][-1] + 1, row)):
            out[-1][1].extend(range(out[-1][1][-1] + 1, row + 1))
        else:
            out.append((row, [row]))
    return out
