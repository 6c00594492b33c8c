// The mail store's size for `status` and /metrics, as the last prune pass measured it.
import { Gauge } from 'prom-client';
import { readStoreSize, type StoreSize } from '../mail/retention.js';
import type { Redis } from '../core/redis.js';
import type { ScrapeSource } from '../core/metrics.js';

export function storeSizeLine(size: StoreSize | null, now = Date.now()): string {
  // A dry run measures nothing (src/mail/retention.ts records only a real pass).
  if (!size) return 'store: size not measured yet (the poller measures it hourly; or run `mailroom store prune`)';
  const mb = (size.bytes / 1024 / 1024).toFixed(1);
  return `store: ${size.mails} mails, ${mb} MiB (measured ${Math.round((now - Date.parse(size.measuredAt)) / 60_000)} min ago)`;
}

export async function storeStatus(redis: Redis, prefix: string): Promise<{ size: StoreSize | null; line: string }> {
  const size = await readStoreSize(redis, prefix);
  return { size, line: storeSizeLine(size) };
}

/**
 * mailroom_store_mails / mailroom_store_bytes, registered on first scrape, with when they were
 * measured: the figures are the last prune pass's, kept in Redis however long ago that was. A
 * pruner that stopped (its poller gone, every pass failing) leaves them unchanged while the disk
 * fills; the timestamp shows it (alert MailroomStoreNotPruned).
 */
export function storeSizeSource(redis: Redis, prefix: string): ScrapeSource {
  return {
    name: 'store',
    metrics: ['mailroom_store_mails', 'mailroom_store_bytes', 'mailroom_store_measured_timestamp_seconds'],
    async collect(m) {
      const gauge = (name: string, help: string) =>
        (m.registry.getSingleMetric(name) as Gauge | undefined) ?? new Gauge({ name, help, registers: [m.registry] });
      const size = await readStoreSize(redis, prefix);
      if (!size) return;
      gauge('mailroom_store_mails', 'Raw mails in the mail store (last prune pass)').set(size.mails);
      gauge('mailroom_store_bytes', 'Bytes of raw mail in the mail store (last prune pass)').set(size.bytes);
      gauge('mailroom_store_measured_timestamp_seconds', 'When the last prune pass measured the mail store (the poller prunes hourly)').set(Date.parse(size.measuredAt) / 1000);
    },
  };
}
