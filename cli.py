"""memoryhole command line (placeholder)."""


def main() -> None:
    pass
