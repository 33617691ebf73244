"""The emulated module's firmware rules, apart from the host that runs them: its modes
and their transitions, its error replies, how it reads parameters. Nothing here does
I/O; the emulator's loop (``machine.py``) carries out what the rules decide.
"""
