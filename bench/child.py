"""The measured child's side of the benchmark: the command loop both children share.

A child is started by `bench.run` as `python -m bench.worker ...` (the function path) or
`python -m bench.baseline ...` (the baseline) with the same environment. It speaks JSON lines:
one command on stdin, one answer on the original stdout (everything else the process prints goes
to stderr). Only the standard library is imported here, so it costs both cold starts the same.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import IO, Any, Protocol

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class Driver(Protocol):
    """One way of serving the benchmark's requests: the function app, or the baseline."""

    def setup(self, namespace: str) -> int:
        """Build the clients and create `namespace` once (warm-up); the HTTP status."""
        ...

    def request(self, namespace: str) -> Any:
        """The `func.HttpRequest` of POST /api/connections for `namespace` (built outside the clock)."""
        ...

    def create(self, request: Any) -> int:
        """Serve the POST for a new namespace; the HTTP status (201 expected)."""
        ...

    def repeat(self, request: Any) -> int:
        """Serve the POST for an existing connection; the HTTP status (200 expected)."""
        ...

    def dataflow_request(self, namespace: str) -> Any:
        """The POST /api/dataflows request for the namespace's event hub `clicks` (BENCH_DATASET_ID)."""
        ...

    def dataflow(self, request: Any) -> int:
        """Create (or return) one dataflow; the HTTP status."""
        ...

    def hub_event_request(self, namespace: str) -> Any:
        """The Event Grid event of the namespace's new event hub `clicks` (eventhubs/write)."""
        ...

    def hub_event(self, event: Any) -> int:
        """Deliver that event; 204 when the invocation returned (the parent checks the record is `ready`)."""
        ...

    def counters(self) -> dict[str, int]:
        """Round trips made so far, by kind (table_ops, kv_reads, flow_calls, ims_calls)."""
        ...


def http_request(namespace: str) -> Any:
    """The `func.HttpRequest` the host would build for POST /api/connections {"namespace": ...}.

    Built here rather than with `devstack.host.http_request` because importing `devstack` pulls
    in the stand-ins (trustme, cryptography, http.server): tens of milliseconds and megabytes
    that are in neither a real worker's cold start nor its memory.
    """
    import azure.functions as func

    return func.HttpRequest(
        method="POST",
        url="http://localhost:7071/api/connections",
        headers={"Content-Type": "application/json"},
        params={},
        route_params={},
        body=json.dumps({"namespace": namespace}).encode(),
    )


def dataflow_request(namespace: str) -> Any:
    """`POST /api/dataflows` for the event hub `clicks` of `namespace` into BENCH_DATASET_ID."""
    import os

    import azure.functions as func

    body = {"namespace": namespace, "eventHubName": "clicks", "datasetId": os.environ.get("BENCH_DATASET_ID", "")}
    return func.HttpRequest(
        method="POST",
        url="http://localhost:7071/api/dataflows",
        headers={"Content-Type": "application/json"},
        params={},
        route_params={},
        body=json.dumps(body).encode(),
    )


BENCH_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"


def hub_event(namespace: str) -> Any:
    """The `func.EventGridEvent` the host would pass for `Microsoft.EventHub/namespaces/eventhubs/write` of the
    event hub `clicks` of `namespace` (ResourceWriteSuccess, Event Grid schema)."""
    import uuid
    from datetime import UTC, datetime

    import azure.functions as func

    subscription = (os.environ.get("AZURE_SUBSCRIPTION_IDS") or BENCH_SUBSCRIPTION).split(",")[0].strip()
    namespace_id = (
        f"/subscriptions/{subscription}/resourcegroups/rg-bench/providers/Microsoft.EventHub/namespaces/{namespace}"
    )
    hub_id = f"{namespace_id}/eventhubs/clicks"
    return func.EventGridEvent(
        id=str(uuid.uuid4()),
        data={
            "operationName": "Microsoft.EventHub/namespaces/eventhubs/write",
            "resourceUri": hub_id,
            "status": "Succeeded",
            "subscriptionId": subscription,
        },
        topic=f"/subscriptions/{subscription}/resourceGroups/rg-bench",
        subject=hub_id,
        event_type="Microsoft.Resources.ResourceWriteSuccess",
        event_time=datetime.now(UTC),
        data_version="2",
    )


def rss_bytes() -> int:
    """The process's current resident set size."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def peak_rss_bytes() -> int:
    """The process's peak resident set size (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def protocol_stream() -> IO[str]:
    """Keep the real stdout for answers and send everything else printed to stderr."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return answers


def answer(stream: IO[str], payload: dict[str, Any]) -> None:
    stream.write(json.dumps(payload, separators=(",", ":")) + "\n")
    stream.flush()


def _timed(
    driver: Driver, call: Callable[[Any], int], namespaces: list[str], build: Callable[[str], Any] | None = None
) -> dict[str, Any]:
    """Serve one request per namespace, one after the other; each one's duration (request built before)."""
    durations: list[float] = []
    statuses: Counter[int] = Counter()
    clock = time.perf_counter
    cpu = time.process_time()
    for namespace in namespaces:
        request = (build or driver.request)(namespace)
        started = clock()
        status = call(request)
        durations.append(clock() - started)
        statuses[status] += 1
    return {"durations": durations, "statuses": dict(statuses), "cpu": time.process_time() - cpu}


def _threaded(driver: Driver, namespaces: list[str], threads: int) -> dict[str, Any]:
    """Run the calls on `threads` threads (each its own slice), all released at once; the wall time."""
    slices = [namespaces[i::threads] for i in range(threads)]
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)

    def run(mine: list[str]) -> None:
        local: Counter[int] = Counter()
        requests = [driver.request(namespace) for namespace in mine]
        barrier.wait()
        for request in requests:
            try:
                local[driver.create(request)] += 1
            except Exception:
                with lock:
                    errors.append(traceback.format_exc(limit=3))
                local[-1] += 1
        with lock:
            statuses.update(local)

    workers = [threading.Thread(target=run, args=(mine,), daemon=True) for mine in slices]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - started
    return {"wall": wall, "statuses": dict(statuses), "errors": errors[:3]}


def _profiled(driver: Driver, call: Callable[[Any], int], namespaces: list[str], top: int) -> dict[str, Any]:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    result = _timed(driver, call, namespaces)
    profiler.disable()
    texts = {}
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        texts[order] = out.getvalue()
    result["profile"] = texts
    return result


def serve(driver: Driver) -> int:
    """Answer the parent's commands until `exit` or end of input."""
    stream = protocol_stream()
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        name = command.get("cmd")
        try:
            if name == "exit":
                answer(stream, {"ok": True})
                return 0
            if name == "setup":
                started = time.perf_counter()
                status = driver.setup(command["namespace"])
                reply: dict[str, Any] = {"status": status, "seconds": time.perf_counter() - started}
            elif name in ("create", "repeat"):
                call = driver.create if name == "create" else driver.repeat
                if command.get("profile"):
                    reply = _profiled(driver, call, command["namespaces"], int(command.get("top", 40)))
                else:
                    reply = _timed(driver, call, command["namespaces"])
            elif name == "dataflow":
                reply = _timed(driver, driver.dataflow, command["namespaces"], driver.dataflow_request)
            elif name == "hub_event":
                reply = _timed(driver, driver.hub_event, command["namespaces"], driver.hub_event_request)
            elif name == "threads":
                reply = _threaded(driver, command["namespaces"], int(command["threads"]))
            elif name == "stats":
                import gc

                reply = {
                    "gc": [generation["collections"] for generation in gc.get_stats()],
                    "rss": rss_bytes(),
                    "peak_rss": peak_rss_bytes(),
                    "counters": driver.counters(),
                    "cpu": time.process_time(),
                    "threads": threading.active_count(),
                }
            else:
                reply = {"error": f"unknown command {name!r}"}
        except Exception:
            reply = {"error": traceback.format_exc()}
        answer(stream, reply)
    return 0


def cold_main(argv: list[str], first_request: Callable[[str], tuple[int, float]]) -> int:
    """`cold SPAWN_TS NAMESPACE`: one first request in a fresh process, timed from the parent's spawn.

    `first_request(namespace)` does every import and the request and returns (status, time.time()
    when the imports were done). Prints {"status", "imported", "first"} (seconds since spawn).
    """
    spawn_ts = float(argv[0])
    stream = protocol_stream()
    status, imported = first_request(argv[1])
    done = time.time()
    answer(
        stream,
        {
            "status": status,
            "imported": imported - spawn_ts,
            "first": done - spawn_ts,
            "peak_rss": peak_rss_bytes(),
        },
    )
    return 0
