"""The module's protocol without I/O (h11's shape): :class:`~atsock.protocol.machine.ModuleProtocol`
takes the bytes the module prints and the time they came
(``receive_data(data, now)``), and a command that gave up (``timeout(now)``), and
returns actions; the states and their transitions are in :mod:`~atsock.protocol.state`,
the command line's in :mod:`~atsock.protocol.exchange`, the ConID table in
:mod:`~atsock.protocol.conns`, the commands as data in :mod:`~atsock.protocol.commands`
and the rules the emulator shares in :mod:`~atsock.protocol.rules`. Nothing in this
package reads a port, starts a thread or looks at a clock.
"""
