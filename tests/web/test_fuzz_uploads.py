"""A seeded sample of benchmarks/fuzz_uploads.py (10,000 uploads there, see RESULTS.md): damaged
images of each format POSTed to a real `impasto serve`, through the harness's own functions."""

from __future__ import annotations

import random

from benchmarks.fuzz_uploads import DAMAGES, FORMATS, damage, fuzz, table

from impasto.images import EXAMPLES


def test_each_kind_of_damage_changes_the_file() -> None:
    data = bytes(range(256)) * 4
    for kind in DAMAGES:
        damaged = damage(data, kind, random.Random(0))
        assert damaged != data and damaged, kind
    assert len(damage(data, "truncate", random.Random(0))) < len(data)
    assert damage(data, "header", random.Random(0))[64:] == data[64:]


def test_damaged_uploads_get_a_4xx_or_a_job_and_leave_nothing_behind() -> None:
    report = fuzz(count=72, seed=20, folders=[EXAMPLES])
    assert report.problems == [], "\n".join(report.problems)
    assert len(report.outcomes) == 72
    assert {outcome.case.image_format for outcome in report.outcomes} == set(FORMATS)
    statuses = {outcome.status for outcome in report.outcomes}
    assert {201, 415, 422} <= statuses <= {201, 413, 415, 422}, table(report)
