"""The jaxgrad command owns its process's allocator (glibc's mallopt), and can be told not to."""

import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
import numpy as np
from jaxgrad.cli.process import own_allocator

class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
took = own_allocator()
a = np.ones(10**7)  # 80 MB: glibc mmaps a block this large unless told not to
print(took, libc.mallinfo2().hblkhd >= a.nbytes)
"""


def _probe(env):
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.path.exists("/etc/alpine-release"),
                    reason="glibc's mallopt")
def test_the_command_keeps_large_blocks_in_its_heap_unless_told_not_to():
    env = {k: "" for k in os.environ if k.startswith("MALLOC_")}
    assert _probe({**env, "JAXGRAD_MALLOC": ""}) == ["True", "False"]  # one arena, no mmap: in the heap
    assert _probe({**env, "JAXGRAD_MALLOC": "system"}) == ["False", "True"]  # glibc as it is: mmapped
