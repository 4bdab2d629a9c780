"""The realapp-stats plugin."""
