"""Field throughput (issue 4): see jaxgrad/bench/throughput_fields.py.  python benchmarks/fields.py --help"""

from jaxgrad.bench.throughput_fields import main

if __name__ == "__main__":
    main()
