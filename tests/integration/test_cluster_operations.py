"""Operating the jobs on the local Flink standalone cluster: submit, stop with a savepoint, rescale.

All four jobs are submitted with `headwater submit` to the cluster of `headwater cluster up` (two
TaskManagers). SDK batches are produced at a fixed rate by `headwater produce --generate`; while that
goes on, action-streaming is stopped with a savepoint and submitted again from it with parallelism 2.
Later profile-dedupe gets the same treatment between two halves of its computation messages.
Afterwards everything equals what the pure rules give for the same input without any interruption:
action-streaming's three topics byte for byte per key, the MongoDB documents reaction-streaming wrote,
and profile-dedupe's outbound events (none twice). The submit, stop-with-savepoint and restore times
are printed (`pytest -s`) and recorded in docs/operations.md.
"""

from __future__ import annotations

import time

import pytest

from common.log import get_logger
from harness.dedupe import expected_outbound
from harness.pipeline import Pipeline

log = get_logger(__name__)

pytestmark = pytest.mark.integration

SDK_BATCHES, RATE = 2_000, 100  # 20 s of producing, with action-streaming stopped and restored in the middle


@pytest.mark.timeout(1200)
def test_four_jobs_on_the_cluster_equal_an_uninterrupted_run_across_a_stop_and_a_rescale(
    isolated_env, local_cluster, tmp_path
):
    env, settings = isolated_env
    pipeline = Pipeline(env, settings, local_cluster, tmp_path)
    times: dict[str, float] = {}
    try:
        times.update({f"submit {name}": seconds for name, seconds in pipeline.submit_all().items()})

        # --- action-streaming: stop with a savepoint while SDK batches keep coming, resume at parallelism 2
        producing = pipeline.produce_sdk(SDK_BATCHES, seed=21, rate=RATE)
        events = pipeline.topics["events.enriched"]
        assert events.wait_for(1, timeout=120, alive=pipeline.jobs["action-streaming"].alive), "no enriched event yet"
        started = time.monotonic()
        savepoint = pipeline.jobs["action-streaming"].stop_with_savepoint()
        times["stop action-streaming with a savepoint"] = time.monotonic() - started
        assert producing.poll() is None, "the producer finished before the stop: nothing was mid-stream"
        before_restore = len(events.values)
        job = pipeline.submit("action-streaming", "--parallelism", "2", "--from-savepoint", savepoint, label="-p2")
        times["restore action-streaming (submit until running)"] = job.submit_s
        assert pipeline.flink.parallelism(job.job_id) == 2
        assert producing.wait(timeout=300) == 0, (tmp_path / "produce.log").read_text()
        started = time.monotonic()
        while len(events.values) == before_restore and time.monotonic() - started < 120:
            events.poll_for(0.2)
        times["restored action-streaming: first new output after running"] = time.monotonic() - started
        pipeline.check_ingest(SDK_BATCHES)
        pipeline.check_documents()

        # --- profile-dedupe: half the messages, stop with a savepoint, resume at parallelism 2, the rest
        pipeline.wait_until_profiles_reached_dedupe()
        scenario = pipeline.compute_scenario(repeats=100)
        assert len(scenario.profiles) > 200
        half = (len(scenario.messages) - 100) // 2
        pipeline.send_messages(scenario.messages[:half])
        pipeline.wait_for_outbound(len(expected_outbound(scenario, messages=scenario.messages[:half])))
        started = time.monotonic()
        savepoint = pipeline.jobs["profile-dedupe"].stop_with_savepoint()
        times["stop profile-dedupe with a savepoint"] = time.monotonic() - started
        job = pipeline.submit("profile-dedupe", "--parallelism", "2", "--from-savepoint", savepoint, label="-p2")
        times["restore profile-dedupe (submit until running)"] = job.submit_s
        assert pipeline.flink.parallelism(job.job_id) == 2
        pipeline.send_messages(scenario.messages[half:])  # the rest, and a hundred repeats of the first half
        pipeline.check_outbound(scenario)
    finally:
        pipeline.close()
    v = pipeline.verified
    log.info(
        f"\n{SDK_BATCHES} SDK batches, {v.events} enriched events, {v.documents} documents, {v.outbound} outbound "
        f"events for {v.messages} messages"
    )
    for what, seconds in times.items():
        log.info(f"  {what:<60} {seconds:6.1f} s")
