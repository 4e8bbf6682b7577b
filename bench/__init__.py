"""tollway's benchmark: `python -m bench` (or `make bench`). See docs/benchmark.md.

The relay runs alone on CPU 1; the DynamoDB emulator, the mock upstream and this process (the load
generator and the measuring taps) share CPU 0. Figures come from this command, never from timed tests.
"""
