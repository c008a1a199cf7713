"""Clara Agent Runner: Agent Studio workflows served as REST APIs."""

__version__ = "1.0.0"
