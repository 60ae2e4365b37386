"""What is neither storage nor HTTP: the rules a request goes through between the routes or
commands that take it and the store that records it (see docs/architecture.md)."""
