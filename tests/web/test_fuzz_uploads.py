"""A seeded sample of benchmarks/fuzz_uploads.py (10,000 requests there, see RESULTS.md): damaged
images of each format POSTed to a real `impasto serve`, and one of each hostile case, through the
harness's own functions."""

from __future__ import annotations

import random

from benchmarks.fuzz_uploads import DAMAGES, FORMATS, HOSTILE, MEMORY_BUDGET_MB, damage, fuzz, table

from impasto.images import EXAMPLES


def test_each_kind_of_damage_changes_the_file() -> None:
    data = bytes(range(256)) * 4
    for kind in DAMAGES:
        damaged = damage(data, kind, random.Random(0))
        assert damaged != data and damaged, kind
    assert len(damage(data, "truncate", random.Random(0))) < len(data)
    assert damage(data, "header", random.Random(0))[64:] == data[64:]


def test_damaged_uploads_and_hostile_requests_get_a_4xx_or_a_job_and_leave_nothing_behind() -> None:
    """With one of each hostile case (a crafted decode cost, four at once, 20 slow connections, hostile settings)."""
    report = fuzz(count=72, seed=20, folders=[EXAMPLES], hostile_every=18)
    assert report.problems == [], "\n".join(report.problems)
    assert len(report.outcomes) == 72 - 4 + 1 + 4 + 1 + 1
    assert {outcome.case.image_format for outcome in report.outcomes} == set(FORMATS)
    assert {outcome.case.damage for outcome in report.outcomes} >= set(HOSTILE)
    statuses = {outcome.status for outcome in report.outcomes}
    assert {201, 408, 415, 422} <= statuses <= {201, 408, 413, 415, 422}, table(report)
    assert report.latencies and report.peak_bytes < MEMORY_BUDGET_MB * 2**20
