// Moved to src/kit/shell.ts. Kept only as a re-export while workers/ssh/notifier.ts, which is being
// rewritten in parallel (bounded line readers), still imports it from here; delete once it doesn't.
export { sqQuote, splitCommandLine, type SplitResult } from '../kit/shell.js';
