// node_app.js - JavaScript that blocks its event loop: fs.readFileSync from a named
// function, on the main thread, also in a child node process (argv[2] == "child").
// Prints what a program could see of the shim's doing: execArgv, NODE_OPTIONS, argv.
const fs = require('fs');
const { execFileSync } = require('child_process');

function readConfig(path) {
  return fs.readFileSync(path, 'utf8');
}

function handleRequest(i) {
  return readConfig(__filename).length + i;
}

let total = 0;
for (let i = 0; i < 50; i++) total += handleRequest(i);
console.log(JSON.stringify({
  role: process.argv[2] || 'parent',
  execArgv: process.execArgv,
  nodeOptions: process.env.NODE_OPTIONS || null,
  argv: process.argv.slice(2),
  total,
}));
if (process.argv[2] !== 'child')
  process.stdout.write(execFileSync(process.execPath, [__filename, 'child']));
