// The benchmark's private redis-server is the one `npm run demo` uses too: src/ops/own-redis.ts.
export * from '../../src/ops/own-redis.js';
