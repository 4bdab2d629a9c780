"""A demoapp data-processor plugin: parses, cleans and summarises CSV records."""

__version__ = "1.0.0"
