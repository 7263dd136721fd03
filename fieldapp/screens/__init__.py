"""Flet views for the phone: render domain state, emit domain commands (the phone-app issue)."""
