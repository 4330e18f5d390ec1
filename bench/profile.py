"""Where the time goes: import times of a cold start and a cProfile of warm creates, both sides.

    python -m bench.profile                 # importtime summary + cProfile of 200 warm creates
    python -m bench.profile --creates 500 --top 60 --side function

Not part of `make bench`; a tool for finding overhead in the function path against the baseline.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict

from bench.harness import ROOT, Child, child_env, namespaces, take_calls

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_times(code: str, top: int) -> str:
    """`python -X importtime -c CODE`: the slowest top-level packages and every project module."""
    env = child_env({})  # the children's environment: bytecode cached under bench/out/pycache
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)  # writes the bytecode cache
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    own: dict[str, int] = defaultdict(int)
    cumulative: dict[str, int] = {}
    project = []
    total = 0
    for line in proc.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if not match:
            continue
        self_us, cum_us, indent, name = int(match[1]), int(match[2]), len(match[3]), match[4]
        total += self_us
        own[name.split(".")[0]] += self_us
        if indent == 1:
            cumulative[name] = cum_us
        if name.split(".")[0] in ("shared", "create_connection", "function_app", "bench", "devstack"):
            project.append((name, self_us))
    lines = [f"{code!r}: {total / 1000:.0f} ms of imports (self time, inflated by -X importtime)"]
    lines.append(
        "  by top-level package (self time): "
        + ", ".join(f"{name} {us / 1000:.0f} ms" for name, us in sorted(own.items(), key=lambda kv: -kv[1])[:top])
    )
    if project:
        lines.append("  project modules (self time): " + ", ".join(f"{n} {us / 1000:.1f} ms" for n, us in project))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--side", choices=("function", "baseline", "both"), default="both")
    parser.add_argument("--repeats", action="store_true", help="profile repeats instead of creates")
    args = parser.parse_args(argv)

    print(import_times("import function_app", 12))
    print(
        import_times("import azure.functions, requests, azure.identity, azure.keyvault.secrets, azure.data.tables", 12)
    )

    from devstack.stack import LocalStack

    sides = {"function": "bench.worker", "baseline": "bench.baseline"}
    if args.side != "both":
        sides = {args.side: sides[args.side]}
    with LocalStack(ROOT) as stack:
        for side, module in sides.items():
            names = namespaces("prof", side[0], args.creates + 21)
            for name in names:
                stack.add_eventhubs_namespace(name)
            with Child(f"profile-{side}", module, child_env(stack.env(), CONNECTIONS_TABLE="BenchProfile")) as child:
                child.call({"cmd": "setup", "namespace": names[0]})
                child.call({"cmd": "create", "namespaces": names[1:21]})
                work = names[21:]
                if args.repeats:
                    child.call({"cmd": "create", "namespaces": work})
                command = "repeat" if args.repeats else "create"
                take_calls(stack)
                reply = child.call({"cmd": command, "namespaces": work, "profile": True, "top": args.top})
                take_calls(stack)
            n = len(reply["durations"])
            print(f"\n===== {side}: {n} {command}s under cProfile, {reply['cpu'] / n * 1000:.2f} ms CPU each")
            for order, text in reply["profile"].items():
                print(f"--- sorted by {order}")
                print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
