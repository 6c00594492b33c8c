// Jira-specific outcomes that callers branch on; they extend the general classes in
// src/errors.ts so the BullMQ mapping still sees "permanent".
import { PermanentError } from '../errors.js';

/** Jira says the user or customer being created already exists: re-look it up, then carry on. */
export class AlreadyExistsError extends PermanentError {}
