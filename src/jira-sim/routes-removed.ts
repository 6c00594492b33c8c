// Endpoints Jira Cloud has removed: they answer 410 Gone with Jira's message, so a client that
// calls one fails in tests as it would on a site (the spec still lists some, deprecated).
import { platformError, type Route } from './http.js';

/**
 * The JQL search before /rest/api/3/search/jql: removed from Jira Cloud by the end of October
 * 2025 (changelog CHANGE-2046, <https://developer.atlassian.com/changelog/#CHANGE-2046>). The
 * message as Jira answers it, quoted in public reports (docs/jira-simulator-limits-and-lag.md).
 */
const SEARCH_REMOVED = 'The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046';

export const removedRoutes: Route[] = ['/rest/api/3/search', '/rest/api/2/search'].flatMap((template) => [
  { method: 'GET', template, operation: 'searchForIssuesUsingJql', handle: () => platformError(410, [SEARCH_REMOVED]) },
  { method: 'POST', template, operation: 'searchForIssuesUsingJqlPost', handle: () => platformError(410, [SEARCH_REMOVED]) },
]);
