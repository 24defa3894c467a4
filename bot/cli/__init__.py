"""The command-line transport: `firebreak ...` (typer) and the local console."""
