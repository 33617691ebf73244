"""pyserial URL handlers of atsock (``emu://``), via ``serial.protocol_handler_packages``."""
