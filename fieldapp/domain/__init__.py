"""The pure core: events, visit state, policy packs and the rules engine. Standard library only."""
