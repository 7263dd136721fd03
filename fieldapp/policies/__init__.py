"""The policy packs shipped with the app, one TOML file per school (see docs/policy-packs.md)."""
