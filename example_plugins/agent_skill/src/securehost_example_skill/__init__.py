"""A demoapp agent-skill plugin."""
