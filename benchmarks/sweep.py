"""Sweep throughput and Newton's convergence (issue 5): see jaxgrad/bench/throughput_sweep.py."""

from jaxgrad.bench.throughput_sweep import main

if __name__ == "__main__":
    main()
