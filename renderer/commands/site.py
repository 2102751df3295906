"""CLI commands for this feature (filled in by its issue)."""

COMMANDS: list = []
