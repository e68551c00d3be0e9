"""`python -m programs.cli` (what the simulator's child process runs)."""

from programs.cli import main

main()
