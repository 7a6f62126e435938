"""``python -m bench``: the kernel and rendering figures, then the fan-out table (defaults)."""

from bench import fanout, kernel

kernel.main()
print(flush=True)
fanout.main([])
