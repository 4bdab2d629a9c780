"""The realapp-greet plugin."""
