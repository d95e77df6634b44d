// The reference server of bench/ws_echo.py: Node's `ws` (npm), echoing
// every message as it came, without permessage-deflate (berth declines it).
// node bench/ws_echo.js PORT   (NODE_PATH must reach node_modules/ws)
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ port: Number(process.argv[2]), path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log('listening'));
