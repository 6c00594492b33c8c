// The Jira Cloud simulator: see server.ts (HTTP), state.ts (data), faults.ts, counters.ts.
export { startJiraSim, type JiraSim, type JiraSimOptions, type SimAnswer } from './server.js';
export { seedDemo, addAdmin, type SeededSite } from './seed.js';
export { SimState, type SimAccount, type SimIssue, type SimToken, GLOBAL_PERMISSIONS, PROJECT_PERMISSIONS } from './state.js';
export { SimFaults, type FaultSettings, type RateLimitFault } from './faults.js';
export { SimCounters, type CountersSnapshot, type ViolationKind } from './counters.js';
export { loadSpecValidator, buildSpecValidator, type SpecValidator, type Exchange, type SpecProblem } from './openapi.js';
