// The load of bench/ws_deflate.py: Node's `ws` as the client, CONNS
// connections each keeping one message in flight (sends, waits for its
// echo, checks it, sends again) for SECONDS. With DEFLATE=1 it offers
// permessage-deflate (threshold 0: every message compressed), else not.
// Prints "open" once every connection is upgraded (the runner reads the
// server's CPU then), then "done {json}" once the last echo came:
// messages, seconds, bytes written and read on the TCP sockets after the
// handshakes (frames with their headers), the server's extension answer.
//   node bench/ws_deflate_load.js URL CONNS SECONDS PAYLOAD_FILE BINARY DEFLATE
const WebSocket = require('ws');
const fs = require('fs');
const [url, conns, seconds, file, binary, deflate] = process.argv.slice(2);
// A binary file is one message; a text file one message a line, sent in turn.
const payloads = binary === '1' ? [fs.readFileSync(file)]
  : fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
const wants = payloads.map((p) => Buffer.from(p));
const pmd = deflate === '1' ? { threshold: 0 } : false;
const socks = [];
let opened = 0, messages = 0, errors = 0, running = false, inflight = 0, answer = '', t0 = 0;
const base = [];

function finish() {
  const took = (Date.now() - t0) / 1000;
  let wrote = 0, read = 0;
  socks.forEach((ws, i) => {
    wrote += ws._socket.bytesWritten - base[i][0];
    read += ws._socket.bytesRead - base[i][1];
  });
  console.log('done ' + JSON.stringify({ messages, errors, seconds: took, wrote, read, answer }));
  socks.forEach((ws) => ws.terminate());
  process.exit(0);
}

function send(ws) {
  inflight++;
  ws.next = ((ws.next === undefined ? -1 : ws.next) + 1) % payloads.length;
  ws.send(payloads[ws.next], { binary: binary === '1' });
}

for (let i = 0; i < Number(conns); i++) {
  const ws = new WebSocket(url, { perMessageDeflate: pmd });
  socks.push(ws);
  ws.on('upgrade', (res) => { answer = res.headers['sec-websocket-extensions'] || ''; });
  ws.on('open', () => {
    if (++opened < Number(conns))
      return;
    socks.forEach((s) => base.push([s._socket.bytesWritten, s._socket.bytesRead]));
    console.log('open');
    running = true;
    t0 = Date.now();
    socks.forEach(send);
    setTimeout(() => { running = false; if (!inflight) finish(); }, Number(seconds) * 1000);
  });
  ws.on('message', (data) => {
    inflight--;
    messages++;
    if (!wants[ws.next].equals(Buffer.from(data)))
      errors++;
    if (running)
      send(ws);
    else if (!inflight)
      finish();
  });
  ws.on('error', (e) => { console.error(String(e)); process.exit(1); });
}
