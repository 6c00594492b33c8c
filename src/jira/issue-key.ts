// Jira issue keys (SUP-12): a project key (a letter, then letters, digits or underscores) and
// the issue's number in it.

export const ISSUE_KEY = /^[A-Z][A-Z0-9_]+-[1-9]\d*$/;

/** The project key of an issue key (SUP-12 -> SUP); undefined when it is not an issue key. */
export function projectOfIssueKey(key: string): string | undefined {
  return ISSUE_KEY.test(key) ? key.slice(0, key.lastIndexOf('-')) : undefined;
}
