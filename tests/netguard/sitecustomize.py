"""Python imports this at start-up (this folder is first on PYTHONPATH during a test or benchmark run):
the loopback guard, when LOOPBACK_GUARD_LOG names the run's refusal log. See loopback_guard.py."""

import os

if os.environ.get("LOOPBACK_GUARD_LOG"):
    import loopback_guard

    loopback_guard.install()
