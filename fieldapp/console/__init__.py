"""The school's console: Flet screens served by the hub at /console."""
