"""A demoapp integration plugin for GitHub-style webhooks."""
