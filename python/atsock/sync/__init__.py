"""The threaded front-end over the sans-I/O protocol machine (:mod:`atsock.protocol`).

:mod:`~atsock.sync.link` reads and writes the port on a reader thread and carries out
what the protocol machine decides; :mod:`~atsock.sync.module` is the typed ``Module``
built on it; :mod:`~atsock.sync.sockets` and :mod:`~atsock.sync.transparent` are the
socket-shaped objects and the transparent stream over the module's public interfaces.
"""
