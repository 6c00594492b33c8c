// A notification rule that mails a group the auto-provisioning also fills would mail every
// outsider whose mail created an account: an outsider's mail gets them the support desk's
// internal traffic. Not an error (a small team may want it), but `config check` says so.
import type { Config } from './load.js';

export interface ConfigWarning {
  path: string;
  message: string;
}

/** Each notification rule group that is also a mailbox's provisioning group (policy.groups, by name). */
export function notifyGroupOverlaps(config: Pick<Config, 'mailboxes' | 'notifications'>): ConfigWarning[] {
  const provisioned = new Map<string, string>();
  for (const [i, m] of config.mailboxes.entries()) {
    if (m.policy.autoCreate !== 'user') continue;
    for (const [j, g] of m.policy.groups.entries()) if (g.name) provisioned.set(g.name.toLowerCase(), `mailboxes[${i}].policy.groups[${j}] (mailbox "${m.id}")`);
  }
  const warnings: ConfigWarning[] = [];
  for (const [i, rule] of (config.notifications?.rules ?? []).entries()) {
    for (const [j, group] of rule.groups.entries()) {
      const where = provisioned.get(group.toLowerCase());
      if (!where) continue;
      warnings.push({
        path: `notifications.rules[${i}].groups[${j}]`,
        message: `group "${group}" is also the auto-provisioning group ${where}: every outsider whose mail creates an account would get these notifications; notify a staff-only group instead`,
      });
    }
  }
  return warnings;
}
