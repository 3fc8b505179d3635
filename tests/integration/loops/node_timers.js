// node_timers.js - a node program (tests/integration/loops/corpus.py): a repeating timer
// whose callback reads a file synchronously, three times.  libuv's loop waits in
// epoll_pwait on the main thread; readFileSync blocks it.
const fs = require('fs');
let n = 0;
const t = setInterval(() => {
  fs.readFileSync(__filename);
  if (++n === 3) clearInterval(t);
}, 5);
