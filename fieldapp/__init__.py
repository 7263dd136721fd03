"""Home Visits: the field app for staff on home visits, and the school hub it syncs to."""
