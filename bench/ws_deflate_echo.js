// The reference server of bench/ws_deflate.py: Node's `ws` echoing every
// message as it came, with permessage-deflate at the zlib level asked for
// (threshold 0: every message compressed, as berth does) or without it.
// WINDOW (8-15, optional): the largest window the server compresses with
// (serverMaxWindowBits: answered even when the client did not offer it).
// node bench/ws_deflate_echo.js PORT LEVEL|off [WINDOW]   (NODE_PATH must reach ws)
const { WebSocketServer } = require('ws');
const [port, level, window] = process.argv.slice(2);
const pmd = level === 'off' ? false
  : Object.assign({ threshold: 0, zlibDeflateOptions: { level: Number(level) } },
                  window ? { serverMaxWindowBits: Number(window) } : {});
const wss = new WebSocketServer({ port: Number(port), path: '/ws', perMessageDeflate: pmd,
                                  maxPayload: 16 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});  // a bad client: ws closes it (1002, 1007, 1009)
});
wss.on('listening', () => console.log('listening'));
