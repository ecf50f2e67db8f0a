import type net from 'node:net';

// Frames written in one turn of the event loop go out in one system call: the first write of a turn
// corks the socket and the next tick uncorks it. At thousands of messages a second, a write (and a
// wake-up of the reader) per frame costs more than the frames themselves.

const corked = new WeakSet<net.Socket>();

export function writeCoalesced(socket: net.Socket, frame: Uint8Array): void {
  if (!corked.has(socket)) {
    corked.add(socket);
    socket.cork();
    process.nextTick(() => {
      corked.delete(socket);
      socket.uncork();
    });
  }
  socket.write(frame);
}
