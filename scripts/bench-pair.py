#!/usr/bin/env python3
"""Paired runs of two phoenix binaries: the "paired runs" figures of the README and of
benches/HISTORY.md.

Usage: scripts/bench-pair.py [--runs N] [--warmup W] [--stages] BIN_A BIN_B -- ARGS...

Runs `BIN_A ARGS` and `BIN_B ARGS` N times each (default 31), alternating which goes
first from one round to the next, so that a machine whose speed drifts (these shared
VMs change by up to two times from minute to minute) weighs on both alike. Each round
gives one difference B - A; the report is the median of each binary's times, and the
median of the differences with their interquartile range. A difference whose range
holds zero is not shown by these runs. Wall time is measured around each run; CPU time
is the run's own user and system time (all its threads), from wait4.

--stages also sets PHOENIX_LOG=phoenix=debug and reports the median of each stage's
time as phoenix logs it (`<stage> anon_kb=... elapsed_us=...`), for both binaries,
with the median of their paired differences.

The commands' standard output is discarded. A run that fails stops the script with
its exit code and the end of its standard error. Exit codes: 0 done, 1 a run failed,
2 bad arguments.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

USAGE = "usage: bench-pair.py [--runs N] [--warmup W] [--stages] BIN_A BIN_B -- ARGS..."

# `containers read anon_kb=27552 elapsed_us=38840` (colours stripped first).
STAGE = re.compile(r"(?:DEBUG|INFO)\s+(.*?)\s+(?:anon_kb|guests)=.*?elapsed_(us|ms)=(\d+)")
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


class HelpAsked(Exception):
    pass


def parse_args(argv):
    runs, warmup, stages = 31, 1, False
    if "--" not in argv and any(a in ("-h", "--help") for a in argv):
        raise HelpAsked
    if "--" not in argv:
        raise ValueError("missing `--` before the command's arguments")
    cut = argv.index("--")
    opts, command = argv[:cut], argv[cut + 1 :]
    bins = []
    i = 0
    while i < len(opts):
        a = opts[i]
        if a in ("--runs", "--warmup"):
            if i + 1 >= len(opts):
                raise ValueError(f"{a} needs a number")
            try:
                n = int(opts[i + 1])
            except ValueError:
                raise ValueError(f"{a} needs a number, not {opts[i + 1]!r}") from None
            if a == "--runs":
                if n < 2:
                    raise ValueError("--runs needs at least 2 (a range needs two differences)")
                runs = n
            else:
                if n < 0:
                    raise ValueError("--warmup cannot be negative")
                warmup = n
            i += 2
        elif a in ("-h", "--help"):
            raise HelpAsked
        elif a == "--stages":
            stages = True
            i += 1
        elif a.startswith("-"):
            raise ValueError(f"unknown option {a}")
        else:
            bins.append(a)
            i += 1
    if len(bins) != 2:
        raise ValueError(f"expected two binaries before `--`, found {len(bins)}")
    for b in bins:
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            raise ValueError(f"not an executable file: {b}")
    return bins, command, runs, warmup, stages


def runnable(binary):
    """The path to run `binary` by: the file checked above. A bare name (`phx-a`)
    would be looked up in PATH, as a shell does, and not found there."""
    return binary if os.sep in binary else os.path.join(os.curdir, binary)


def run(binary, command, stages):
    """One run: (wall ms, cpu ms, {stage: ms})."""
    env = dict(os.environ)
    if stages:
        env["PHOENIX_LOG"] = "phoenix=debug"
    with open(os.devnull, "wb") as null, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([runnable(binary), *command], stdout=null, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = (time.perf_counter() - start) * 1000
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if code != 0:
        tail = "\n".join(text.splitlines()[-20:])
        print(f"bench-pair: {binary} exited with {code}:\n{tail}", file=sys.stderr)
        sys.exit(1)
    cpu = (usage.ru_utime + usage.ru_stime) * 1000
    found = {}
    if stages:
        for line in text.splitlines():
            m = STAGE.search(COLOUR.sub("", line))
            if m:
                ms = int(m.group(3)) / (1000 if m.group(2) == "us" else 1)
                found[m.group(1)] = found.get(m.group(1), 0) + ms
    return wall, cpu, found


def quartiles(xs):
    """First quartile, median, third quartile."""
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


def row(label, a, b):
    diffs = [y - x for x, y in zip(a, b)]
    lo, mid, hi = quartiles(diffs)
    return (
        f"{label:<34}{statistics.median(a):>10.1f}{statistics.median(b):>10.1f}"
        f"{mid:>+10.1f}  [{lo:+.1f}, {hi:+.1f}]"
    )


def main(argv):
    try:
        bins, command, runs, warmup, stages = parse_args(argv)
    except HelpAsked:
        print(__doc__.strip())
        return 0
    except ValueError as e:
        print(f"bench-pair: {e}\n{USAGE}", file=sys.stderr)
        return 2
    for _ in range(warmup):
        for binary in bins:
            run(binary, command, False)
    # By place, not by path: a binary may be paired with itself (to see the noise).
    ra, rb = [], []
    for i in range(runs):
        for which in (0, 1) if i % 2 == 0 else (1, 0):
            (ra, rb)[which].append(run(bins[which], command, stages))
    print(f"{runs} rounds, the first binary first in every other round: A = {bins[0]}, B = {bins[1]}")
    print(f"{'ms':<34}{'A':>10}{'B':>10}{'B - A':>10}  [interquartile range]")
    print(row("wall", [r[0] for r in ra], [r[0] for r in rb]))
    print(row("cpu (user + system)", [r[1] for r in ra], [r[1] for r in rb]))
    if stages:
        names = list(dict.fromkeys(s for r in ra + rb for s in r[2]))
        for name in names:
            # A stage one binary does not log counts as 0 ms there.
            sa = [r[2].get(name, 0.0) for r in ra]
            sb = [r[2].get(name, 0.0) for r in rb]
            print(row(f"  {name[:32]}", sa, sb))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        # `bench-pair.py ... | head`: the reader has what it wanted.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
