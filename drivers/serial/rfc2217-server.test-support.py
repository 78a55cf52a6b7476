"""pyserial's own RFC 2217 server (serial.rfc2217.PortManager, as in pyserial's
examples/rfc2217_server.py) serving a loop:// port: what a client writes comes back. Prints the
port it listens on, then the port's settings after every message, one line each."""
import socket
import sys
import threading

import serial
import serial.rfc2217

port = serial.serial_for_url('loop://', baudrate=9600, timeout=0.05)
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(('127.0.0.1', 0))
server.listen(1)
print(server.getsockname()[1], flush=True)
connection, _ = server.accept()


class Connection:
    """What PortManager writes its answers to (pyserial's example passes an object with write())."""

    def write(self, data):
        connection.sendall(data)


manager = serial.rfc2217.PortManager(port, Connection())
alive = True


def serial_to_socket():
    while alive:
        data = port.read(port.in_waiting or 1)
        if data:
            connection.sendall(b''.join(manager.escape(data)))


threading.Thread(target=serial_to_socket, daemon=True).start()
last = None
while True:
    data = connection.recv(1024)
    if not data:
        break
    port.write(b''.join(manager.filter(data)))
    state = f'baud={port.baudrate} dtr={port.dtr} rts={port.rts}'
    if state != last:
        print(state, flush=True)
        last = state
alive = False
