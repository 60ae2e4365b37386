"""Plain data and rules with no I/O: what opsjobs means, independent of HTTP and SQL."""
