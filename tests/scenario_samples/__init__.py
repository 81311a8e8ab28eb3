"""A tiny scenario catalog for testing the runner itself: one passing, one broken scenario."""
