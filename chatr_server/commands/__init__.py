"""One-off administrative commands run from the CLI."""
