// Recipients of a notification: the members of its groups (through the workaround token,
// which can see them where an app without the ADMIN scope cannot) plus its named users,
// deduplicated by address. Members whose email is hidden by their privacy settings are
// skipped and counted: an address is never guessed.
import { canonicalAddress } from '../core/address.js';
import { NotFoundError, PermanentError } from '../core/errors.js';
import type { JiraAccount, GroupRef } from '../jira/types.js';
import type { Redis } from '../core/redis.js';
import { key } from '../core/redis.js';

/** A group as far as a notification needs it. */
export interface GroupAddresses {
  emails: string[];
  /** Active human members without a visible email. */
  hidden: number;
}

export type GroupMembersFn = (group: GroupRef) => Promise<JiraAccount[]>;

export interface Expansion {
  /** Canonical (lower-cased, IDN domains in punycode, src/core/address.ts), unique, in first-seen order (groups in order, then users). */
  recipients: string[];
  hiddenSkipped: number;
  /** Addresses that are not one deliverable address (canonicalAddress refuses them): not mailed. */
  unusable: string[];
  /** Members (with an address) per group, for the job's result. */
  perGroup: Record<string, number>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A configured group: a groupId when it looks like one, else a group name. */
export function groupRef(group: string): GroupRef {
  return UUID.test(group) ? { groupId: group } : { groupName: group };
}

/** Pure: the addresses of a group's members (inactive ones and apps dropped, hidden ones counted). */
export function addressesOf(members: readonly JiraAccount[]): GroupAddresses {
  const emails: string[] = [];
  let hidden = 0;
  for (const m of members) {
    if (!m.active || m.accountType === 'app') continue;
    if (m.emailAddress) emails.push(m.emailAddress.trim().toLowerCase());
    else hidden++;
  }
  return { emails, hidden };
}

/** Pure: merge groups and users into one list of unique addresses. */
export function mergeRecipients(groups: { name: string; addresses: GroupAddresses }[], users: readonly string[]): Expansion {
  const seen = new Set<string>();
  const recipients: string[] = [];
  const unusable: string[] = [];
  const perGroup: Record<string, number> = {};
  let hiddenSkipped = 0;
  // The SMTP library sends the canonical form (an IDN domain in punycode) and answers refusals
  // by it: a recipient kept in another form would be recorded sent when it was refused.
  const add = (e: string) => {
    if (!e.trim()) return;
    const c = canonicalAddress(e);
    if (!c.ok) {
      if (unusable.length < 20) unusable.push(c.reason);
      return;
    }
    if (!seen.has(c.address)) {
      seen.add(c.address);
      recipients.push(c.address);
    }
  };
  for (const g of groups) {
    perGroup[g.name] = g.addresses.emails.length;
    hiddenSkipped += g.addresses.hidden;
    g.addresses.emails.forEach(add);
  }
  users.forEach(add);
  return { recipients, hiddenSkipped, unusable, perGroup };
}

export interface GroupCacheDeps {
  redis: Redis;
  prefix: string;
  /** Reads a group's members from Jira (all pages, inactive excluded). */
  members: GroupMembersFn;
  /**
   * How long a group's addresses are trusted. Short: a notification burst on one issue (a
   * comment thread) costs one expansion, while someone who leaves the group stops receiving
   * mail within minutes.
   */
  ttlMs?: number;
}

export const GROUP_CACHE_TTL_MS = 5 * 60_000;

export function groupCacheKey(prefix: string, group: string): string {
  return key(prefix, 'notify', 'group', group.toLowerCase());
}

/** A group's addresses, from the cache or Jira. An unknown group is a permanent failure naming it. */
export async function groupAddresses(deps: GroupCacheDeps, group: string): Promise<GroupAddresses & { cached: boolean }> {
  const k = groupCacheKey(deps.prefix, group);
  const hit = await deps.redis.get(k);
  if (hit) {
    try {
      const v = JSON.parse(hit) as GroupAddresses;
      if (Array.isArray(v.emails) && typeof v.hidden === 'number') return { ...v, cached: true };
    } catch {
      // A damaged entry is read again from Jira.
    }
  }
  let members: JiraAccount[];
  try {
    members = await deps.members(groupRef(group));
  } catch (e) {
    if (e instanceof NotFoundError) throw new PermanentError(`unknown Jira group "${group}": no such group on the site (check notifications.rules or --group)`);
    throw e;
  }
  const addresses = addressesOf(members);
  await deps.redis.set(k, JSON.stringify(addresses), 'PX', deps.ttlMs ?? GROUP_CACHE_TTL_MS);
  return { ...addresses, cached: false };
}

/** Expand groups and users into recipients. Every group is read before anything is sent. */
export async function expandRecipients(deps: GroupCacheDeps, groups: readonly string[], users: readonly string[]): Promise<Expansion> {
  const read: { name: string; addresses: GroupAddresses }[] = [];
  // One group at a time: groups are few, and a Jira that rate-limits is asked less at once.
  for (const name of groups) read.push({ name, addresses: await groupAddresses(deps, name) });
  return mergeRecipients(read, users);
}
