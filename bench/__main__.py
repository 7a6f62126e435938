"""`python -m bench`: the kernel and rendering figures, then the fan-out table."""

from bench import fanout, kernel

kernel.main()
fanout.main()
