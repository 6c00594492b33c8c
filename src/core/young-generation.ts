// Imported first by a process entry that wants a small young generation (workers/poller.ts).
// V8 grows the young generation under load, to 64 MB here, and keeps it resident however idle
// the process is afterwards: most of an idle poller's memory. Its maximum is fixed when the
// heap is set up (`--max-semi-space-size`, a command-line flag), but its growth factor is read
// at each growth: set to 1 before the process has done any real work, the young generation
// stays at the few MB it starts with. The poller's main thread allocates little per mail (the
// parse runs in worker threads, which get their own limit), so more frequent, smaller
// scavenges cost it nothing measurable (npm run bench: intake rate and latency unchanged).
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--semi-space-growth-factor=1');
