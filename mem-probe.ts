const mb = () => Math.round(process.memoryUsage().rss / 1048576);
const list = process.argv.slice(2);
let last = mb();
const out: string[] = [`start ${last}`];
for (const m of list) { await import(m); (globalThis as any).gc?.(); const now = mb(); out.push(`${m} +${now - last} (${now})`); last = now; }
console.log(out.join('\n'));
