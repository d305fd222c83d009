// parseCheckSpec: defaults, freezing, and errors that name the field.
import t, { type Test } from 'tap'
import { parseCheckSpec, CHECK_KINDS } from '../../healthchecks/spec.js'

function fails(t: Test, input: unknown, field: string, why: RegExp | string = /./) {
  t.throws(() => parseCheckSpec(input), { code: 'LVS_ERR_INVALID_CHECK', message: new RegExp(`^invalid health check ${field.replace(/[[\]]/g, '\\$&')}: `) })
  t.throws(() => parseCheckSpec(input), { message: why })
}

t.test('the common defaults are interval 5 s, timeout 3 s, fall 3, rise 2', async (t) => {
  t.same(parseCheckSpec({ kind: 'connect' }), { kind: 'connect', interval: 5, timeout: 3, fall: 3, rise: 2 })
})

t.test('http defaults to GET / accepting 2xx without verification', async (t) => {
  t.same(parseCheckSpec({ kind: 'https' }), {
    kind: 'https', interval: 5, timeout: 3, fall: 3, rise: 2, method: 'GET', path: '/', status: ['200-299'], verify: false,
  })
})

t.test('every kind parses with only its required fields', async (t) => {
  const required: Record<string, object> = { dns: { name: 'example.test' }, external: { command: ['/bin/true'] } }
  for (const kind of CHECK_KINDS) t.equal(parseCheckSpec({ kind, ...required[kind] }).kind, kind)
  t.equal(CHECK_KINDS.length, 11)
  t.same(parseCheckSpec({ kind: 'ping' }), { kind: 'ping', interval: 5, timeout: 3, fall: 3, rise: 2, count: 1 })
})

t.test('sip accepts 200 by default, and codes and ranges up to 699 when given', async (t) => {
  t.same(parseCheckSpec({ kind: 'sip' }), { kind: 'sip', interval: 5, timeout: 3, fall: 3, rise: 2, status: [200] })
  t.match(parseCheckSpec({ kind: 'sip', status: [200, 401, 407, '600-699'] }), { status: [200, 401, 407, '600-699'] })
  fails(t, { kind: 'sip', status: [700] }, 'status[0]', /100-699/)
  fails(t, { kind: 'sip', status: ['499-400'] }, 'status[0]', /runs backwards/)
  fails(t, { kind: 'http', status: [600] }, 'status[0]', /100-599/)
})

t.test('the result is frozen and the input untouched', async (t) => {
  const input = { kind: 'http', status: [200] }
  const spec = parseCheckSpec(input)
  t.ok(Object.isFrozen(spec))
  t.ok(Object.isFrozen((spec as { status: unknown[] }).status))
  t.same(input, { kind: 'http', status: [200] })
})

t.test('a given field keeps its value', async (t) => {
  const spec = parseCheckSpec({ kind: 'sip', interval: 1, timeout: 0.5, fall: 1, rise: 1, address: '::1', port: 5070, protocol: 'udp', login: 'ping@lb' })
  t.match(spec, { interval: 1, timeout: 0.5, fall: 1, rise: 1, address: '::1', port: 5070, protocol: 'udp', login: 'ping@lb' })
})

t.test('bad input is LVS_ERR_INVALID_CHECK naming the field', async (t) => {
  fails(t, 'connect', '\\(spec\\)', /must be an object/)
  fails(t, {}, 'kind', /must be one of connect, http/)
  fails(t, { kind: 'telnet' }, 'kind', /"telnet"/)
  fails(t, { kind: 'connect', colour: 'red' }, 'colour', /unknown field/)
  fails(t, { kind: 'connect', interval: 0 }, 'interval')
  fails(t, { kind: 'connect', timeout: '3' }, 'timeout')
  fails(t, { kind: 'connect', fall: 1.5 }, 'fall')
  fails(t, { kind: 'connect', port: 70000 }, 'port')
  fails(t, { kind: 'connect', address: 'real1.example.test' }, 'address', /not an IP address/)
  fails(t, { kind: 'connect', address: '127.1' }, 'address', /not an IP address/)
  fails(t, { kind: 'connect', receive: '(unclosed' }, 'receive', /not a valid regular expression/)
  fails(t, { kind: 'connect', udpWait: 5 }, 'udpWait', /shorter than the timeout/)
  fails(t, { kind: 'http', receive: '[a-' }, 'receive', /regular expression/)
  fails(t, { kind: 'http', status: [200, '299-200'] }, 'status[1]', /runs backwards/)
  fails(t, { kind: 'http', status: [200, '2xx'] }, 'status[1]', /a status code \(100-599\) or a range/)
  fails(t, { kind: 'http', status: [] }, 'status')
  fails(t, { kind: 'http', method: 'POST' }, 'method', /must be one of GET, HEAD$/)
  fails(t, { kind: 'http', path: 'index.html' }, 'path')
  fails(t, { kind: 'http', method: 'HEAD', receive: 'ok' }, 'receive', /HEAD/)
  fails(t, { kind: 'http', virtualhost: 'a b\r\nX-Evil: 1' }, 'virtualhost')
  fails(t, { kind: 'sip', login: 'a b' }, 'login')
  fails(t, { kind: 'sip', protocol: 'sctp' }, 'protocol', /must be one of tcp, udp$/)
  fails(t, { kind: 'dns' }, 'name')
  fails(t, { kind: 'dns', name: 'bad..name' }, 'name', /not a DNS name/)
  fails(t, { kind: 'dns', name: 'a.test', type: 'MX' }, 'type')
  fails(t, { kind: 'dns', name: 'a.test', answer: '2001:db8::1' }, 'answer', /not an IPv4 address \(type is A\)/)
  fails(t, { kind: 'external' }, 'command')
  fails(t, { kind: 'external', command: [] }, 'command')
  fails(t, { kind: 'external', command: [''] }, 'command[0]')
  fails(t, { kind: 'pbs', command: ['qstat', 42] }, 'command[1]')
  fails(t, { kind: 'ping', count: 0 }, 'count')
  fails(t, JSON.parse('{"kind":"connect","__proto__":{"timeout":99}}'), '__proto__', /unknown field/)
  fails(t, { kind: 'connect', receive: () => 'x' }, '\\(spec\\)', /plain data/)
})

t.test('DNS names: the root, a trailing dot and underscores are accepted', async (t) => {
  for (const name of ['.', 'example.test.', '_sip._udp.example.test']) t.equal((parseCheckSpec({ kind: 'dns', name }) as { name: string }).name, name)
})
