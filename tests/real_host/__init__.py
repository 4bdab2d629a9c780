"""The "Must show" project of issue 10: a real pluggy host, its dependencies, and third-party plugins."""
