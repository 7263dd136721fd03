"""The phone's repository: visits, events and the outbox (the encrypted-store issue)."""
