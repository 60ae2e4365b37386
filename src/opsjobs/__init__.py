"""opsjobs: runs operations against monitored objects and keeps every run as a job."""

__version__ = "0.1.0"
