"""Storm: chaos and red-team testing of AI agents."""
