// The Jira client and the shapes it returns; see client.ts.
export { createJiraClient, type JiraClient, type JiraClientOptions } from './client.js';
export { AlreadyExistsError, IssueLimitError, JiraNoAnswerError, JiraServerError, PermissionError, UserNotFoundYetError } from './errors.js';
export { parseRetryAfter, parseRateLimitReset, jiraErrorText, classifyAnswer, loginFailed } from './classify.js';
export { pickByEmail, preferredAccount, toAccount } from './match.js';
export type * from './types.js';
