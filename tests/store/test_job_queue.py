"""The priority of a queued run's job: first by its flow's waiting runs, then by its deployment's, within int4."""

from __future__ import annotations

from clara_runner.store.job_queue import DEPLOYMENT_RANK_CAP, FLOW_RANK_CAP, fair_priority

INT4_MIN = -(2**31)


def test_a_flows_first_run_comes_before_any_flows_second_whatever_the_deployments_backlog() -> None:
    newcomer_of_a_busy_deployment = fair_priority(0, 1000)
    second_run_of_a_quiet_flow = fair_priority(1, 0)
    assert newcomer_of_a_busy_deployment > second_run_of_a_quiet_flow


def test_among_flows_of_equal_rank_the_quieter_deployment_comes_first() -> None:
    assert fair_priority(0, 0) > fair_priority(0, 1) > fair_priority(0, 999)
    assert fair_priority(3, 3) > fair_priority(3, 4)


def test_the_first_run_of_an_idle_flow_has_the_top_priority_of_new_runs() -> None:
    assert fair_priority(0, 0) == 0


def test_ranks_past_their_caps_tie_and_the_lowest_priority_fits_int4() -> None:
    assert fair_priority(FLOW_RANK_CAP, 5) == fair_priority(FLOW_RANK_CAP + 10**9, 5)
    assert fair_priority(2, DEPLOYMENT_RANK_CAP) == fair_priority(2, DEPLOYMENT_RANK_CAP + 10**9)
    assert fair_priority(FLOW_RANK_CAP - 1, DEPLOYMENT_RANK_CAP) > fair_priority(FLOW_RANK_CAP, 0)
    assert fair_priority(10**12, 10**12) >= INT4_MIN
