"""Wire protocol, the phone's sync client and the hub's sync API (the hub and sync issues)."""
