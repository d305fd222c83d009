// `lvs-director show` text: the -Ln listing with the --stats / --rate counters merged onto the same lines.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { formatListing, mergeListings } from '../../src/ipvs/format.js'
import { parseList } from '../../src/ipvs/parse.js'

const fixture = (name: string) => parseList(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'))

t.test('plain listing prints like ipvsadm -Ln', async (t) => {
  const text = formatListing(mergeListings(fixture('synthetic-list-plain.txt')))
  const lines = text.split('\n')
  t.match(lines[2], /^TCP  192\.0\.2\.100:80\s+wrr$/)
  t.match(lines[3], /^  -> 192\.0\.2\.11:80\s+Route\s+1\s+0\s+0$/)
  t.match(text, /\nUDP  192\.0\.2\.100:5060\s+sh \(sh-fallback,sh-port\) persistent 900 mask 255\.255\.255\.0 pe sip ops\n/)
  t.match(text, /\nFWM  8 IPv6\s+mh \(mh-port\)\n  -> \[2001:db8::31\]:0\s+Route\s+7\s+12\s+18\n/)
})

t.test('stats merge by key and line up under their column titles', async (t) => {
  const services = mergeListings(fixture('synthetic-list-plain.txt'), fixture('synthetic-list-stats-exact.txt'))
  t.same(services[0]!.stats, { conns: 1001, inPkts: 123456789012, outPkts: 0, inBytes: 98765432109876, outBytes: 5 })
  t.equal(services[0]!.destinations[1]!.stats!.inBytes, 4500)
  const lines = formatListing(services, 'stats').split('\n')
  const col = lines[0]!.indexOf('InBytes') + 'InBytes'.length
  const svcLine = lines[2]!
  const destLine = lines[4]!
  t.equal(svcLine.slice(0, col).trimEnd().split(/\s+/).pop(), '98765432109876', 'service InBytes under its title')
  t.equal(destLine.slice(0, col).trimEnd().split(/\s+/).pop(), '4500', 'real server InBytes under its title')
})
