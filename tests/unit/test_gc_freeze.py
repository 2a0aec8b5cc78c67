"""`python -m bot run` moves what start-up made out of the cyclic garbage collector's sight
(bot.runtime.freeze_start_up_objects): a full collection went through ~240 000 long-lived
objects with the event loop stopped, the tail of the reply latency."""

from __future__ import annotations

import gc

from bot.runtime import GC_THRESHOLDS, freeze_start_up_objects


def test_start_up_objects_leave_the_collectors_generations() -> None:
    import bot.app  # noqa: F401  (what the bot process has imported when it freezes)

    gc.collect()
    assert len(gc.get_objects(generation=2)) > 100_000  # what a full collection goes through
    thresholds = gc.get_threshold()
    try:
        freeze_start_up_objects()
        assert gc.get_freeze_count() > 100_000
        assert len(gc.get_objects(generation=2)) < 1_000
        assert gc.get_threshold() == GC_THRESHOLDS  # young collections less often
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
