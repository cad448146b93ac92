"""``python -m cli``: the ``memoryhole`` command."""

from cli import main

main()
