"""The module's protocol without I/O (h11's shape): rules, the ConID table and, as they
move here from the threaded driver, the state machine. Nothing in this package reads a
port, starts a thread or looks at a clock: bytes and times come in as arguments.
"""
