// Moved to src/kit/objectid.ts. Kept only as a re-export while src/server/notifywire.ts, which is
// being rewritten in parallel (bounded line reading), still imports it from here; delete once it doesn't.
export * from '../kit/objectid.js';
