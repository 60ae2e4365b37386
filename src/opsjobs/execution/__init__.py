"""Running jobs: the runner's claim loop, the script and MQTT executors, output capture, the
reaper. Everything here reads and writes jobs through ``store.queue``; nothing keeps a second
copy of a job's state."""
