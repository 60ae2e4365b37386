"""The HTTP API: routes, authentication, error mapping, JSON encoding."""
