"""The school side: database, console, CLI and exports (the hub issue)."""
