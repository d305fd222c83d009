// Types for the parts of the raw-socket package (no published typings) that the ICMP transport uses.
declare module 'raw-socket' {
  import type { EventEmitter } from 'node:events'

  export interface Socket extends EventEmitter {
    send(
      buffer: Buffer,
      offset: number,
      length: number,
      address: string,
      beforeCallback: (() => void) | null,
      afterCallback: (error: Error | null, bytes: number) => void,
    ): this
    setOption(level: number, option: number, value: number): void
    close(): this
    on(event: 'message', listener: (buffer: Buffer, source: string) => void): this
    on(event: 'error', listener: (error: Error) => void): this
    on(event: 'close', listener: () => void): this
  }

  export interface SocketOptions {
    protocol?: number
    addressFamily?: number
    bufferSize?: number
  }

  const raw: {
    createSocket(options?: SocketOptions): Socket
    createChecksum(...buffers: Buffer[]): number
    writeChecksum(buffer: Buffer, offset: number, checksum: number): Buffer
    AddressFamily: { IPv4: number; IPv6: number }
    Protocol: { ICMP: number; ICMPv6: number }
    SocketLevel: { SOL_SOCKET: number }
  }
  export default raw
}
