// The status page: `GET /` on the API's listener, one self-contained HTML document (no framework, no build step, no
// external asset). The page itself holds no data and needs no token; it asks for one (kept in the browser's
// localStorage) when the API has tokens, reads `GET /v1/session` for its role, and renders the live state streamed
// by `GET /v1/events` (src/api/events.ts) with the same Authorization header. Actions (drain, enable, disable,
// weight, switchover) are shown to admin tokens only, each after a confirmation, and go through the REST API.
import { createHash } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f23;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:.6em 1em;display:flex;gap:1.5em;align-items:center;flex-wrap:wrap}
header h1{font-size:1.1em;margin:0}
main{padding:1em;display:grid;gap:1em}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.6em .8em}
h2{font-size:1em;margin:.2em 0 .5em}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.2em .5em;border-bottom:1px solid #eaeef2;white-space:nowrap}
td.num,th.num{text-align:right}
.up{color:#1a7f37}.down{color:#cf222e;font-weight:600}.unknown{color:#9a6700}
tr.down td{background:#ffebe9}
.pill{display:inline-block;padding:0 .5em;border-radius:1em;background:#eaeef2}
button{font:inherit;padding:.05em .5em;margin-right:.2em}
input[type=number]{width:4.5em}
#message{min-height:1.4em}
#message.error{color:#cf222e}
svg.spark{width:80px;height:18px;vertical-align:middle}
svg.spark polyline{fill:none;stroke:#0969da;stroke-width:1.5}
form#login{display:flex;gap:.5em;align-items:center}
.hidden{display:none}
`

const SCRIPT = `
'use strict'
const $ = (s) => document.querySelector(s)
const el = (tag, props = {}, ...kids) => { const e = document.createElement(tag); Object.assign(e, props); e.append(...kids); return e }
const SPARK = 120
let token = localStorage.getItem('lvsd-token') || ''
let role = 'read'
let controller
const rows = new Map()
const history = new Map()
const headers = () => (token ? { authorization: 'Bearer ' + token } : {})
const say = (text, error) => { const m = $('#message'); m.textContent = text; m.className = error ? 'error' : '' }

async function api(method, path, body) {
  const res = await fetch(path, { method, headers: { ...headers(), ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined })
  const text = await res.text()
  const json = text ? JSON.parse(text) : {}
  if (!res.ok) throw new Error((json.code || res.status) + ': ' + (json.message || res.statusText))
  return json
}

async function start() {
  controller?.abort()
  const res = await fetch('/v1/session', { headers: headers() })
  if (res.status === 401 || res.status === 403) {
    $('#login').classList.remove('hidden')
    say(token ? 'token refused' : 'this director needs a token', true)
    $('#live').classList.add('hidden')
    return
  }
  const session = await res.json()
  role = session.role
  $('#login').classList.add('hidden')
  $('#live').classList.remove('hidden')
  $('#who').textContent = session.actor + ' (' + role + ')'
  document.body.dataset.role = role
  say('')
  stream()
}

async function stream() {
  controller = new AbortController()
  try {
    const res = await fetch('/v1/events', { headers: headers(), signal: controller.signal })
    if (!res.ok) throw new Error('events: ' + res.status)
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let buf = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buf += value
      let i
      while ((i = buf.indexOf('\\n\\n')) >= 0) {
        const chunk = buf.slice(0, i)
        buf = buf.slice(i + 2)
        const data = chunk.split('\\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\\n')
        if (data) render(JSON.parse(data))
      }
    }
  } catch (err) {
    if (controller.signal.aborted) return
    say('connection lost: ' + err.message + '; retrying', true)
  }
  setTimeout(() => { if (!controller.signal.aborted) stream() }, 1000)
}

function setText(node, text) { if (node.textContent !== text) node.textContent = text }

function spark(row, values) {
  const max = Math.max(1, ...values)
  const pts = values.map((v, i) => (i * 80 / (SPARK - 1)).toFixed(1) + ',' + (17 - v / max * 16).toFixed(1)).join(' ')
  if (row.points !== pts) { row.points = pts; row.line.setAttribute('points', pts) }
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';')
const CELLS = ['address', 'health', 'since', 'admin', 'weight', 'effective', 'active', 'inactive', 'cps', 'spark', 'pps', 'bps', 'actions']
const NUM = new Set(['weight', 'effective', 'active', 'inactive', 'cps', 'pps', 'bps'])
const SVG = '<svg class="spark" role="img" aria-label="new connections per second, last two minutes"><polyline/></svg>'

// A row's cells as one string: a thousand rows built by the parser, not by a thousand createElement calls each.
function rowHtml(service, r) {
  const what = esc(r.key + ' of ' + service.name)
  const button = (a) => '<button type="button" class="action" data-action="' + a + '" aria-label="' + a + ' ' + what + '">' + a + '</button>'
  const actions = role !== 'admin' ? '' : ['drain', 'enable', 'disable'].map(button).join('') +
    '<input type="number" min="0" max="65535" value="' + Number(r.weight) + '" aria-label="weight of ' + what + '">' + button('set weight')
  return CELLS.map((k) => '<td' + (NUM.has(k) ? ' class="num"' : '') + '>' + (k === 'address' ? esc(r.key) : k === 'spark' ? SVG : k === 'actions' ? actions : '') + '</td>').join('')
}

// Every action button of every row: one listener.
async function onAction(e) {
  const b = e.target.closest('button.action')
  if (!b) return
  const tr = b.closest('tr')
  const id = tr.dataset.real
  const name = id.slice(0, id.lastIndexOf('|'))
  const key = id.slice(id.lastIndexOf('|') + 1)
  const label = b.dataset.action
  const what = key + ' of ' + name
  const path = '/v1/services/' + encodeURIComponent(name) + '/reals/' + encodeURIComponent(key)
  if (!confirm(label + ' ' + what + '?')) return
  try {
    if (label === 'set weight') await api('PATCH', path, { weight: Number(tr.querySelector('input').value) })
    else await api('POST', path + '/' + label)
    say(label + ' ' + what + ': done')
  } catch (err) { say(label + ' ' + what + ': ' + err.message, true) }
}

function realRow(service, r) {
  const id = service.name + '|' + r.key
  let row = rows.get(id)
  if (!row) {
    const tr = document.createElement('tr')
    tr.dataset.real = id
    tr.innerHTML = rowHtml(service, r)
    const cells = {}
    CELLS.forEach((k, i) => { cells[k] = tr.children[i] })
    row = { tr, cells, line: tr.querySelector('polyline'), points: '' }
    rows.set(id, row)
  }
  const c = row.cells
  const h = r.health
  row.tr.className = h.state
  setText(c.health, h.state)
  c.health.className = h.state
  c.health.title = h.lastResult ? (h.lastResult.ok ? 'ok' : 'failed') + ': ' + (h.lastResult.message || '') + ' (' + h.lastResult.durationMs + ' ms)' : 'no check result yet'
  setText(c.since, h.since ? new Date(h.since).toLocaleTimeString() : '')
  setText(c.admin, r.admin + (r.drain ? ' until ' + new Date(r.drain.deadline).toLocaleTimeString() : ''))
  setText(c.weight, String(r.weight))
  setText(c.effective, r.effectiveWeight === null ? '-' : String(r.effectiveWeight))
  setText(c.active, String(r.kernel?.activeConns ?? '-'))
  setText(c.inactive, String(r.kernel?.inactiveConns ?? '-'))
  setText(c.cps, String(r.kernel?.cps ?? '-'))
  setText(c.pps, r.kernel ? r.kernel.inPps + ' / ' + r.kernel.outPps : '-')
  setText(c.bps, r.kernel ? r.kernel.inBps + ' / ' + r.kernel.outBps : '-')
  const hist = history.get(id) || []
  hist.push(r.kernel?.cps ?? 0)
  if (hist.length > SPARK) hist.shift()
  history.set(id, hist)
  spark(row, hist)
  return row.tr
}

function renderPair(s) {
  const p = s.status.pair
  const lag = s.status.store.lastPeerChange ? s.status.store.lastPeerChange.lagMs + ' ms' : '-'
  setText($('#role'), s.status.role)
  setText($('#revision'), String(s.status.revision))
  setText($('#store'), s.status.store.kind + (s.status.store.up ? ' up' : ' DOWN') + ', sync lag ' + lag)
  const box = $('#pair')
  if (!p) { setText(box, 'a single director'); return }
  const paths = p.heartbeat.paths.map((h) => h.name + ': ' + (h.alive ? 'alive' : 'SILENT')).join('; ')
  setText(box, 'this director ' + p.node + ', epoch ' + p.epoch + '; peer ' + (p.peer.node || '?') + ' ' + (p.peer.alive ? p.peer.role : 'SILENT') +
    '; heartbeat ' + paths + '; lease ' + (p.lease.up ? 'held by ' + (p.lease.holder || 'nobody') : 'Redis unreachable') + '; VIPs ' + (p.vips.join(', ') || 'none'))
  $('#switchover').classList.toggle('hidden', role !== 'admin')
}

function render(s) {
  renderPair(s)
  const seen = new Set()
  const list = $('#services')
  const sections = []
  for (const svc of s.services) {
    let sec = document.getElementById('service-' + svc.name)
    if (!sec) {
      sec = el('section', { id: 'service-' + svc.name })
      const head = el('tr', {}, ...['real server', 'health', 'since', 'admin', 'weight', 'effective', 'active', 'inactive', 'conn/s', 'last 2 min', 'packets/s in / out', 'bytes/s in / out', role === 'admin' ? 'actions' : ''].map((t) => el('th', { textContent: t, scope: 'col' })))
      sec.append(el('h2'), el('table', {}, el('thead', {}, head), el('tbody')))
    }
    setText(sec.querySelector('h2'), svc.name + ': ' + svc.key + ' ' + svc.scheduler + (svc.kernel ? ', ' + svc.kernel.cps + ' conn/s' : ''))
    const body = sec.querySelector('tbody')
    const trs = svc.destinations.map((r) => { seen.add(svc.name + '|' + r.key); return realRow(svc, r) })
    trs.forEach((tr, i) => { if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null) })
    while (body.children.length > trs.length) body.lastChild.remove()
    sections.push(sec)
  }
  sections.forEach((sec, i) => { if (list.children[i] !== sec) list.insertBefore(sec, list.children[i] || null) })
  while (list.children.length > sections.length) list.lastChild.remove()
  for (const id of rows.keys()) if (!seen.has(id)) { rows.delete(id); history.delete(id) }
  const audit = $('#audit')
  audit.replaceChildren(...s.audit.slice().reverse().map((e) => el('li', { textContent: new Date(e.at).toLocaleTimeString() + ' ' + e.actor + ' ' + e.action + ' ' + e.target })))
  setText($('#updated'), 'updated ' + new Date(s.at).toLocaleTimeString())
}

$('#login').addEventListener('submit', (e) => {
  e.preventDefault()
  token = $('#token').value.trim()
  localStorage.setItem('lvsd-token', token)
  start()
})
$('#switchover').addEventListener('click', async () => {
  if (!confirm('Hand the VIPs to the other director?')) return
  try { const r = await api('POST', '/v1/switchover'); say('switchover: this director is ' + r.role) } catch (err) { say('switchover: ' + err.message, true) }
})
$('#services').addEventListener('click', onAction)
$('#logout').addEventListener('click', () => { localStorage.removeItem('lvsd-token'); token = ''; rows.clear(); $('#services').replaceChildren(); start() })
start()
`

const BODY = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>lvs-director</title><style>${STYLE}</style></head>
<body>
<header><h1>lvs-director</h1><span>role <b id="role">-</b></span><span>revision <b id="revision">-</b></span>
<span>table <b id="store">-</b></span><span id="updated"></span><span id="who"></span>
<button type="button" id="logout">forget token</button></header>
<main>
<div id="message" role="status" aria-live="polite"></div>
<form id="login" class="hidden"><label for="token">API token</label><input id="token" type="password" autocomplete="current-password" required><button type="submit">use it</button></form>
<div id="live" class="hidden">
<section><h2>pair</h2><p id="pair">-</p><button type="button" id="switchover" class="hidden">switch over</button></section>
<div id="services"></div>
<section><h2>audit trail (last entries, newest first)</h2><ol id="audit" reversed></ol></section>
</div>
</main>
<script>${SCRIPT}</script>
</body></html>
`

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`
// Only this document's own script and style run: nothing else, and nothing from elsewhere.
const CSP = `default-src 'none'; script-src ${hash(SCRIPT)}; style-src ${hash(STYLE)}; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'`

/** `GET /`: the status page (open: it holds no data; the data it fetches needs the token). */
export const pageRoutes: FastifyPluginAsync = async (app) => {
  app.get('/', { config: { open: true }, schema: { tags: ['director'], summary: 'The status page (HTML; live over /v1/events)', security: [] } }, async (_request, reply) => {
    reply.header('content-security-policy', CSP).header('cache-control', 'no-store').type('text/html; charset=utf-8')
    return BODY
  })
}
