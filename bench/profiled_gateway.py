"""`kubemcp` with a cProfile window opened and closed by signals, so start-up is left out of the profile.

`python bench/profiled_gateway.py STATS_FILE gateway run ...`: SIGUSR1 starts profiling the event loop
thread, SIGUSR2 stops it and writes the stats to STATS_FILE (pstats format). The profiler's clock is the
process CPU time, so time the process spends descheduled (a busy machine, a woken peer taking the CPU
during a pipe or socket write) is not charged to whatever function happened to be running.
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time
from types import FrameType

from kubemcp.cli import main as kubemcp_main


def main() -> int:
    if len(sys.argv) < 3:
        sys.exit("usage: profiled_gateway.py STATS_FILE KUBEMCP_ARG...")
    stats_file = sys.argv[1]
    profiler = cProfile.Profile(time.process_time)

    def start(signum: int, frame: FrameType | None) -> None:
        profiler.enable()

    def stop(signum: int, frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(stats_file)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    return kubemcp_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
