// The workaround token: what other parts of Mailroom use (each module says how it works).
export { startTokenRuntime, readTokenHealth, jiraClientFactory, type TokenRuntime, type TokenHealth } from './runtime.js';
export { createTokenSource, loadTokenCredentials, type TokenSource } from './source.js';
export { createTokenGate, readTokenState, tripGate, resumeGate, openTokenQueues, type TokenGate, type TokenState } from './gate.js';
export { TokenPausedError, TokenUnavailableError, tokenVersionOf } from './errors.js';
export { checkToken, requirementsFor, formatReport, type TokenReport } from './check.js';
export { startTokenWatch, runTokenCheck, tokenDaysLeft, expiryStatus, type TokenWatch } from './watch.js';
export { loadSecretKey, SecretKeyError, type SecretKey } from './key.js';
export { readTokenMeta, saveToken, clearToken, NoTokenError, type TokenCredentials, type TokenMeta } from './store.js';
