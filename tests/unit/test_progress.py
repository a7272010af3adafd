"""The progress-line throttle both stateful jobs use."""

from common.flink.progress import ProgressThrottle


class _Timers:
    def __init__(self):
        self.registered = []

    def current_processing_time(self):
        return 1_000

    def register_processing_time_timer(self, at):
        self.registered.append(at)


class _Ctx:
    def __init__(self):
        self.timers = _Timers()

    def timer_service(self):
        return self.timers


def test_prints_changed_totals_at_most_every_interval_and_sets_a_timer_for_the_rest():
    ctx = _Ctx()
    throttle = ProgressThrottle({"n": 0}, every_s=60)
    assert not throttle.due({"n": 0}, ctx)  # nothing new
    assert throttle.due({"n": 1}, ctx)
    assert not throttle.due({"n": 2}, ctx)  # too soon: a timer will bring the operator back
    assert ctx.timers.registered == [61_000]


def test_with_no_interval_every_change_is_printed_once():
    ctx = _Ctx()
    throttle = ProgressThrottle({"n": 0}, every_s=0)
    assert [throttle.due({"n": n}, ctx) for n in (1, 1, 2)] == [True, False, True]
    assert ctx.timers.registered == []
