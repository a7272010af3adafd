"""Print the tests the last pytest run failed, read from pytest's own cache.

`make test` calls this after the stack is down, so the last lines CI shows name what broke even
when the run printed thousands of lines before.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from common.log import configure as configure_logging
from common.log import get_logger

log = get_logger(__name__)

LAST_FAILED = Path(".pytest_cache/v/cache/lastfailed")


def main() -> int:
    if not LAST_FAILED.exists():
        log.info("make test failed before any test ran (see above)")
        return 0
    failed = sorted(json.loads(LAST_FAILED.read_text()))
    log.info(f"failed tests ({len(failed)}):" if failed else "no failed tests on record (see above)")
    for test_id in failed:
        log.info(f"  {test_id}")
    return 0


if __name__ == "__main__":
    configure_logging()
    sys.exit(main())
