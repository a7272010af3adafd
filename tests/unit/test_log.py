"""Where log lines go: results and progress on stdout, problems on stderr; inside a job, everything on
stdout (a TaskManager's stderr is a pipe nobody reads in thread mode)."""

from common.log import configure, configure_job, get_logger, progress


def test_the_cli_logs_results_to_stdout_and_problems_to_stderr(capsys):
    configure()
    log = get_logger("cli.example")
    log.info("savepoint: s3://b/p")
    log.error("headwater: error: what to fix")
    progress.info("produced 10/20 records")
    out, err = capsys.readouterr()
    assert out == "savepoint: s3://b/p\n"
    assert err == "headwater: error: what to fix\nproduced 10/20 records\n"


def test_a_job_logs_everything_to_stdout(capsys):
    configure()
    configure_job()
    log = get_logger("jobs.example.operators")
    log.info("example: deltas=1")
    log.warning("example: MongoDB unavailable; retrying in 0.2 s")
    out, err = capsys.readouterr()
    assert out == "example: deltas=1\nexample: MongoDB unavailable; retrying in 0.2 s\n" and err == ""
