"""A whole `mnistlab` process with and without cli.run()'s gc.freeze(), interleaved:
python benchmarks/ab/process_exit.py [ROUNDS] > benchmarks/results/<YYYY-MM-DD>-<machine>/process-exit.txt

"main() alone": python -c "...; sys.exit(main())" ARGS, as the command ran before 2026-12-06.
"run()": python -m mnistlab ARGS, which freezes the collector's view of the objects the imports made, before
and after main(), so no collection walks them again (the interpreter's last one included).
Seconds from start to exit, median of ROUNDS (default 5), for a command that only imports and lists
(`models`) and for one epoch of ref2 with its test pass and report.
"""

import statistics
import subprocess
import sys
import tempfile
import time

from mnistlab.system import cpu_name

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
MAIN = [sys.executable, "-c", "import sys; from mnistlab.cli.app import main; sys.exit(main())"]
RUN = [sys.executable, "-m", "mnistlab"]
with tempfile.TemporaryDirectory() as tmp:
    commands = {
        "mnistlab models": ["models"],
        "mnistlab train --config ref2 --epochs 1": [
            "train",
            "--config",
            "ref2",
            "--epochs",
            "1",
            "--out",
            f"{tmp}/run",
            "--overwrite",
            "--quiet",
        ],  # fmt: skip
    }
    print(f"# {cpu_name()}; {rounds} interleaved rounds, seconds per process (median)")
    for label, args in commands.items():
        times = {"main() alone": [], "run()": []}
        for _ in range(rounds):
            for side, head in (("main() alone", MAIN), ("run()", RUN)):
                t0 = time.perf_counter()
                subprocess.run(head + args, check=True, capture_output=True)
                times[side].append(time.perf_counter() - t0)
        a, b = (statistics.median(v) for v in times.values())
        print(f"{label}: main() alone {a:.3f} s, run() {b:.3f} s, {a - b:.3f} s less ({a / b:.3f}x)")
