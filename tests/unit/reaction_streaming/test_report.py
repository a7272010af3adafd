from jobs.reaction_streaming.report import format_report, parse_reports


def test_the_progress_line_parses_back():
    totals = {"deltas": 10, "writes": 4, "applied": 3, "stale": 1, "refused": 0, "retries": 2}
    line = format_report(totals, 12, 99)
    assert "coalescing 2.50x" in line
    assert parse_reports(f"noise\n{line}\nmore noise") == [{**totals, "write_p50_ms": 12, "write_p99_ms": 99}]
