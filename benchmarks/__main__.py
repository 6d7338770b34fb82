"""``python -m benchmarks``: the benchmark's command line (``benchmarks.cli``)."""

from benchmarks.cli import main

if __name__ == "__main__":
    main()
