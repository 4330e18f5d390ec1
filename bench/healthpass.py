"""One health pass, as a measured child: `health_timer` driven the way the host drives it.

    python -m bench.healthpass      # prints one JSON line: {"startup", "pass"} in seconds

The app is imported and indexed first (`function_app.app.get_functions()`, as `bench.worker` does)
and the timer invocation alone is timed: its reads of the tables, Adobe and Azure Monitor, the
judgement and the writes of every ready dataflow's health. The process's own start (interpreter,
imports) is reported apart, so the figure is the pass, not Python's start.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    started = time.perf_counter()
    from azure.functions.timer import TimerRequest

    from bench.worker import indexed_function

    timer = indexed_function("health_timer")
    ready = time.perf_counter()
    timer(TimerRequest(past_due=False))
    done = time.perf_counter()
    print(json.dumps({"startup": ready - started, "pass": done - ready}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
