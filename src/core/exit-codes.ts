// The one table of exit codes for every Mailroom process: the `mailroom` commands and the role
// processes (workers/*.ts, `mailroom start`). Grouped by cause, so a unit file can say which
// exits a restart cannot fix (RestartPreventExitStatus=2) and a script which ones to retry.
// docs/exit-codes.md is this table for people; test/unit/exit-codes.test.ts keeps them equal.

export const EXIT = {
  /** Done, or (a role) stopped cleanly on SIGTERM/SIGINT. */
  ok: 0,
  /**
   * A command ran and what it checked is not well (failed jobs found, token unusable...);
   * a role could not start for a reason that may pass, or its shutdown grace period ran out
   * with work in hand (that work is retried). Restarting a role is right.
   */
  failed: 1,
  /**
   * Fix the input: bad arguments, a bad configuration, or an encryption key that is missing,
   * unreadable, malformed or not the one the stored token was sealed with. Restarting cannot help.
   */
  usage: 2,
  /** Redis could not be reached (commands only: a role waits for Redis instead of exiting). */
  unavailable: 3,
  /** Jira did not answer (network, a wrong site URL, a 5xx): commands that call Jira. */
  jiraUnavailable: 4,
  /** A bug: an unhandled rejection crashed the process (EX_SOFTWARE). Restart, and report it. */
  internal: 70,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Exit codes after which restarting a role cannot help (systemd's RestartPreventExitStatus=). */
export const NO_RESTART_EXITS: readonly ExitCode[] = [EXIT.usage];
