// A Jira site as Mailroom names it in Redis keys and job ids.

/**
 * The site's host, as it appears in keys and job ids. A port (the simulator's) is kept but
 * written with `_`: BullMQ refuses `:` in custom job ids.
 */
export function siteHost(site: string): string {
  let host: string;
  try {
    host = new URL(site).host;
  } catch {
    host = site;
  }
  return host.toLowerCase().replace(/:/g, '_');
}
