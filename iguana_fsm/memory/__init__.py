"""Memory: what a boot may use (``budget``), how its images are pulled within it (``plan``),
and what it used (``usage``). In an initrd container storage and ``/iguana`` are tmpfs: every
image byte is RAM."""
