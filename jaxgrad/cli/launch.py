"""``jaxgrad launch`` and the options that join a multi-process job."""
from __future__ import annotations

import argparse
import sys

from jaxgrad.cli.common import UsageError

__all__ = ["add_processes", "join_job", "add_launch"]

def add_processes(p) -> None:
    g = p.add_argument_group(
        "several processes (jax.distributed)",
        "Run as one of N processes of one job; every process is started with the same command and "
        "its own --process-id (or the JAXGRAD_COORDINATOR, JAXGRAD_NUM_PROCESSES, JAXGRAD_PROCESS_ID "
        "variables that 'jaxgrad launch' sets; under SLURM or Open MPI, nothing). Process 0 writes.")
    g.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's host and a free port, the same for all")
    g.add_argument("--num-processes", type=int, metavar="N", help="how many processes the job has")
    g.add_argument("--process-id", type=int, metavar="I", help="this process's number, 0..N-1")


def join_job(args) -> bool:
    """Join the multi-process job the arguments or environment describe; True if this process
    only computes (process 1..N-1: its standard output and progress lines go nowhere)."""
    import os

    from jaxgrad import distributed

    if not distributed.initialize(args.coordinator, args.num_processes, args.process_id):
        return False
    if distributed.is_writer():
        return False
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (for the life of the process)
    if hasattr(args, "quiet"):
        args.quiet = True
    return True


def add_launch(sub) -> None:
    p = sub.add_parser(
        "launch", help="start N local processes of one job (jax.distributed over loopback)",
        description="Start N copies of a jaxgrad command as one multi-process job on this machine, "
                    "e.g. 'jaxgrad launch -n 2 -- jaxgrad run configs/quickstart.toml'. Process 0 writes "
                    "and prints; if one process fails, the others are stopped.")
    p.add_argument("-n", "--num-processes", type=int, default=2, metavar="N", help="processes (default 2)")
    p.add_argument("--port", type=int, help="the coordinator's port on 127.0.0.1 (default: a free one)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help="the command each process runs ('jaxgrad ...' runs this jaxgrad)")
    p.set_defaults(run=_run_launch)


def _run_launch(args) -> int:
    import os
    import signal
    import socket
    import subprocess
    import time

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise UsageError("jaxgrad launch: give the command after --, e.g. -- jaxgrad run CONFIG")
    if args.num_processes < 1:
        raise UsageError(f"jaxgrad launch: -n must be a positive integer, got {args.num_processes}")
    if cmd[0] == "jaxgrad":  # this installation's jaxgrad, whatever PATH says
        cmd = [sys.executable, "-m", "jaxgrad", *cmd[1:]]
    port = args.port
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    procs = []
    for i in range(args.num_processes):
        env = dict(os.environ, JAXGRAD_COORDINATOR=f"127.0.0.1:{port}",
                   JAXGRAD_NUM_PROCESSES=str(args.num_processes), JAXGRAD_PROCESS_ID=str(i))
        try:
            procs.append(subprocess.Popen(cmd, env=env))
        except OSError as err:
            _stop(procs)
            raise UsageError(f"jaxgrad launch: cannot start {cmd[0]}: {err.strerror}") from None
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = next((i for i, c in enumerate(codes) if c not in (None, 0)), None)
            if failed is not None:
                code = codes[failed]
                if code == 2:  # bad input, met by every process alike: process 0 says it, give it time
                    _stop(procs, grace=5.0)
                    return 2
                _stop(procs)
                how = f"signal {-code}" if code < 0 else f"status {code}"
                print(f"error: process {failed} of {len(procs)} ended with {how}; stopped the others",
                      file=sys.stderr)
                return code if code > 0 else 1
            if all(c == 0 for c in codes):
                return 0
            time.sleep(0.1)
    except KeyboardInterrupt:
        _stop(procs, signal.SIGINT)
        raise


def _stop(procs, sig=None, grace: float = 0.0) -> None:
    """Stop the processes still running after ``grace`` seconds: a signal (SIGTERM), then
    SIGKILL after 10 s."""
    import signal
    import subprocess
    import time

    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.05)
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig or signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
