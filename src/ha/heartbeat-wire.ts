// The heartbeat's wire format: one UDP datagram, a fixed header, the sender's state as JSON, and an HMAC-SHA256 over
// all of it. Pure: encoding, decoding and authentication; what to accept is replay-guard.ts's business.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import ipaddr from 'ipaddr.js'

/** The layout, in bytes (docs/ha-heartbeat.md draws it). */
const MAGIC = 0x4c564842 // 'LVHB'
/** The only version this code sends and accepts. */
export const WIRE_VERSION = 1
const OFF_VERSION = 4
const OFF_FLAGS = 5
const OFF_LENGTH = 6
const OFF_CLUSTER = 8
const OFF_BOOT = 16
const OFF_SEQ = 32
const OFF_ECHO_BOOT = 40
const OFF_ECHO_SEQ = 56
const OFF_TO = 64
/** Header size: the payload starts here. */
const HEADER = 84
const MAC = 32
/** Largest payload (JSON state) in bytes: a datagram stays below the 1280-byte IPv6 minimum MTU. */
export const MAX_PAYLOAD = 1024
/** Bytes of a boot id. */
export const BOOT_ID_BYTES = 16

/** The fields of one heartbeat. */
export interface HeartbeatPacket {
  /** The sender's boot id (random per start). */
  boot: Buffer
  /** The sender's sequence number, 1 up, one counter for all its paths. */
  seq: number
  /** Boot id of the heartbeat the sender heard last from us (zeros: none yet). */
  echoBoot: Buffer
  /** Sequence number of that heartbeat (0: none). */
  echoSeq: number
  /** Where the sender addressed it: destinationBytes() of the receiver's path. */
  to: Buffer
  /** The sender's state, JSON text. */
  payload: string
}

/** Why a datagram is not a heartbeat of this cluster: every reason counts as forged. */
export type DecodeFailure = 'malformed' | 'version' | 'cluster' | 'mac'

/** The 8-byte tag of a cluster name carried in every heartbeat. */
export function clusterTag(cluster: string): Buffer {
  return createHash('sha256').update('lvs-director heartbeat cluster\0').update(cluster, 'utf8').digest().subarray(0, 8)
}

/** 18 bytes naming a destination: the address as IPv6 (IPv4-mapped for IPv4) and the port. */
export function destinationBytes(address: string, port: number): Buffer {
  const parsed = ipaddr.parse(address)
  const v6 = parsed.kind() === 'ipv4' ? (parsed as ipaddr.IPv4).toIPv4MappedAddress() : (parsed as ipaddr.IPv6)
  const out = Buffer.alloc(18)
  out.set(v6.toByteArray(), 0)
  out.writeUInt16BE(port, 16)
  return out
}

function mac(key: Uint8Array, body: Uint8Array): Buffer {
  return createHmac('sha256', key).update(body).digest()
}

/** The datagram of `packet`, authenticated with `key`. */
export function encodeHeartbeat(packet: HeartbeatPacket, key: Uint8Array, cluster: Buffer): Buffer {
  const payload = Buffer.from(packet.payload, 'utf8')
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`heartbeat payload of ${payload.length} bytes, at most ${MAX_PAYLOAD}`)
  const buf = Buffer.alloc(HEADER + payload.length + MAC)
  buf.writeUInt32BE(MAGIC, 0)
  buf.writeUInt8(WIRE_VERSION, OFF_VERSION)
  buf.writeUInt8(0, OFF_FLAGS)
  buf.writeUInt16BE(payload.length, OFF_LENGTH)
  cluster.copy(buf, OFF_CLUSTER, 0, 8)
  packet.boot.copy(buf, OFF_BOOT, 0, BOOT_ID_BYTES)
  buf.writeBigUInt64BE(BigInt(packet.seq), OFF_SEQ)
  packet.echoBoot.copy(buf, OFF_ECHO_BOOT, 0, BOOT_ID_BYTES)
  buf.writeBigUInt64BE(BigInt(packet.echoSeq), OFF_ECHO_SEQ)
  packet.to.copy(buf, OFF_TO, 0, 18)
  payload.copy(buf, HEADER)
  mac(key, buf.subarray(0, HEADER + payload.length)).copy(buf, HEADER + payload.length)
  return buf
}

function safeNumber(n: bigint): number | undefined {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined
}

/** The heartbeat in `buf`, or why it is none: checked for shape, version, cluster, then the MAC (constant time). */
export function decodeHeartbeat(buf: Buffer, key: Uint8Array, cluster: Buffer): { ok: true; packet: HeartbeatPacket } | { ok: false; reason: DecodeFailure } {
  if (buf.length < HEADER + MAC || buf.readUInt32BE(0) !== MAGIC) return { ok: false, reason: 'malformed' }
  if (buf.readUInt8(OFF_VERSION) !== WIRE_VERSION) return { ok: false, reason: 'version' }
  const length = buf.readUInt16BE(OFF_LENGTH)
  if (length > MAX_PAYLOAD || buf.length !== HEADER + length + MAC) return { ok: false, reason: 'malformed' }
  if (!buf.subarray(OFF_CLUSTER, OFF_CLUSTER + 8).equals(cluster)) return { ok: false, reason: 'cluster' }
  const expected = mac(key, buf.subarray(0, HEADER + length))
  if (!timingSafeEqual(expected, buf.subarray(HEADER + length))) return { ok: false, reason: 'mac' }
  const seq = safeNumber(buf.readBigUInt64BE(OFF_SEQ))
  const echoSeq = safeNumber(buf.readBigUInt64BE(OFF_ECHO_SEQ))
  if (seq === undefined || seq === 0 || echoSeq === undefined) return { ok: false, reason: 'malformed' }
  return {
    ok: true,
    packet: {
      boot: Buffer.from(buf.subarray(OFF_BOOT, OFF_BOOT + BOOT_ID_BYTES)),
      seq,
      echoBoot: Buffer.from(buf.subarray(OFF_ECHO_BOOT, OFF_ECHO_BOOT + BOOT_ID_BYTES)),
      echoSeq,
      to: Buffer.from(buf.subarray(OFF_TO, OFF_TO + 18)),
      payload: buf.toString('utf8', HEADER, HEADER + length),
    },
  }
}
