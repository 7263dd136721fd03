"""The hub's schema revisions (Alembic), run by `fieldapp.hub.migrate`: `env.py`, and one file
per revision in `versions/`, written by hand. Adding a table or a column means adding a
revision here; tests/hub/test_migrations.py fails until the revisions and the tables agree.
"""
