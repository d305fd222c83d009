// The replay rules, without sockets or time: sequence numbers only.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { REPLAY_WINDOW, ReplayGuard } from '../../src/ha/replay-guard.js'

const NONE = Buffer.alloc(16)
const us = randomBytes(16)
const peer0 = randomBytes(16)
const peer1 = randomBytes(16)
const from = (boot: Buffer, seq: number, echoSeq = 0, echoBoot = echoSeq === 0 ? NONE : us) => ({ boot, seq, echoBoot, echoSeq })

/** A guard that has believed peer0 at `seq`, its adoption echoing our heartbeat `echo` while we are at `sent`. */
function adopted(seq = 10, echo = 95, sent = 100) {
  const g = new ReplayGuard(us, 40)
  t.equal(g.check(from(peer0, seq, echo), sent), 'adopt')
  return g
}

t.test('a new boot is believed only once it echoes one of our recent heartbeats', async (t) => {
  const g = new ReplayGuard(us, 40)
  t.equal(g.check(from(peer0, 1), 100), 'unconfirmed', 'no echo yet: the peer has not heard us')
  t.same(g.echo(), { boot: peer0, seq: 1 }, 'we echo it, so it can prove itself to us')
  t.equal(g.check(from(peer0, 2, 50), 100), 'replayed', 'an echo of a heartbeat 50 back is not recent (40)')
  t.equal(g.check(from(peer0, 3, 101), 100), 'replayed', 'an echo of a heartbeat we did not send yet')
  t.equal(g.check(from(peer0, 4, 90, randomBytes(16)), 100), 'unconfirmed', 'an echo of another boot of ours')
  t.equal(g.check(from(peer0, 5, 90), 100), 'adopt')
  t.same(g.peerBoot, peer0)
  t.same(g.echo(), { boot: peer0, seq: 5 })
})

t.test('within a boot: each sequence number once, and none older than the window', async (t) => {
  const g = adopted(10)
  t.equal(g.check(from(peer0, 10, 96), 101), 'replayed', 'the adopting heartbeat again')
  t.equal(g.check(from(peer0, 9, 96), 101), 'accept', 'one sent just before the adoption, late on another path')
  t.equal(g.check(from(peer0, 8, 50), 101), 'unconfirmed', 'one sent long before (a capture): its echo is stale')
  t.equal(g.check(from(peer0, 12, 96), 101), 'accept')
  t.equal(g.check(from(peer0, 11, 96), 101), 'accept', 'a little out of order (another path)')
  t.equal(g.check(from(peer0, 11, 96), 101), 'replayed')
  t.equal(g.check(from(peer0, 13 + REPLAY_WINDOW, 96), 101), 'accept', 'a jump (lost heartbeats)')
  t.equal(g.check(from(peer0, 12, 96), 101), 'replayed', 'now older than the window')
  t.equal(g.check(from(peer0, 13, 96), 101), 'replayed', 'never seen, but older than the window')
  t.equal(g.check(from(peer0, 14, 96), 101), 'accept', 'never seen and inside the window (late from a slow path)')
})

t.test('within a boot, a heartbeat counts only while it echoes one of our recent heartbeats', async (t) => {
  const g = adopted(10, 95, 100)
  t.equal(g.check(from(peer0, 11, 99), 101), 'accept')
  t.equal(g.check(from(peer0, 12), 101), 'unconfirmed', 'a peer that hears us no more')
  t.equal(g.check(from(peer0, 13, 99, randomBytes(16)), 101), 'unconfirmed', 'an echo of another boot of ours')
  // Held back by someone on the path and delivered 2 s (80 of our heartbeats) later: stale, though never seen.
  t.equal(g.check(from(peer0, 14, 100), 180), 'unconfirmed')
  t.equal(g.check(from(peer0, 15, 179), 180), 'accept', 'the live peer is heard again')
  t.equal(g.check(from(peer0, 14, 100), 180), 'unconfirmed', 'still stale')
  t.equal(g.check(from(peer0, 15, 179), 180), 'replayed', 'seen before')
  t.same(g.echo(), { boot: peer0, seq: 15 })
})

t.test('a restarted peer is believed; a capture of its old boot never comes back', async (t) => {
  const g = adopted(10, 95, 100)
  t.equal(g.check(from(peer0, 11, 120), 125), 'accept') // the old boot heard our 120 last
  const old = from(peer0, 12, 121)
  t.equal(g.check(old, 126), 'accept')
  // peer0 dies; peer1 starts: first unheard, then echoing what it heard of us.
  t.equal(g.check(from(peer1, 1), 130), 'unconfirmed')
  t.same(g.echo(), { boot: peer0, seq: 12 }, 'we echo the believed boot until another is')
  t.equal(g.check(from(peer1, 2, 129), 131), 'adopt', 'the sequence restarts with the new boot')
  t.equal(g.check(from(peer1, 3, 130), 132), 'accept')
  // The old boot's heartbeats, replayed while they still look recent to the freshness count, stay dropped:
  // their echoes are older than what the current boot echoed.
  t.equal(g.check(old, 132), 'replayed')
  t.equal(g.check(from(peer0, 13, 121), 132), 'replayed')
  t.same(g.peerBoot, peer1)
})

t.test('our own heartbeats sent back to us are refused', async (t) => {
  const g = adopted()
  t.equal(g.check(from(us, 500, 10, peer0), 100), 'reflected')
})

t.test('after both ways were cut for longer than the freshness, the two sides hear each other again within two heartbeats', async (t) => {
  // Two guards as two directors' heartbeat threads run them: each heartbeat echoes what echo() says.
  const side = (boot: Buffer) => ({ boot, seq: 0, guard: new ReplayGuard(boot, 20) })
  const [a, b] = [side(randomBytes(16)), side(randomBytes(16))]
  const send = (s: typeof a) => {
    const e = s.guard.echo()
    return { boot: s.boot, seq: ++s.seq, echoBoot: e.boot, echoSeq: e.seq }
  }
  const exchange = () => [b.guard.check(send(a), b.seq), a.guard.check(send(b), a.seq)]
  for (let i = 0; i < 3; i++) exchange()
  t.same(exchange(), ['accept', 'accept'], 'the pair hears each other')
  for (let i = 0; i < 100; i++) [send(a), send(b)] // the path is cut both ways: nothing arrives
  const healed = [exchange(), exchange(), exchange()]
  t.same(healed[0], ['unconfirmed', 'accept'], "the first of each echoes what it heard before the cut: a stale echo, but the other side learns a new one")
  t.same(healed.slice(1), [['accept', 'accept'], ['accept', 'accept']], 'then both are heard again')
})
