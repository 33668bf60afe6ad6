// A worker's stdout and stderr are relayed into the daemon's own, and its stdout carries the
// control protocol: a stray print from a library in here could tear a protocol line. Whatever is
// printed in a worker goes to the current session's log instead. The streams are patched once per
// thread; each session (threads are reused) installs its own sink and removes it when it ends.

let sink: (text: string) => void = () => {};
let patched = false;

export function captureStrayPrints(to: (text: string) => void): () => void {
  if (!patched) {
    patched = true;
    for (const stream of [process.stdout, process.stderr]) {
      stream.write = ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
        sink(String(chunk));
        const done = typeof encoding === 'function' ? encoding : callback;
        if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
        return true;
      }) as typeof stream.write;
    }
  }
  sink = to;
  return () => {
    if (sink === to) sink = () => {};
  };
}
