// Which Redis a process uses, in one line for `mailroom status` and `/readyz`: the form
// (one server, Sentinel, Cluster), where it was told to look (masked), and the node it talks
// to right now (after a Sentinel failover, the promoted replica).
import { currentNode, describeRedis, targetOf, type Redis } from '../core/redis.js';

export interface RedisWhere {
  form: 'url' | 'sentinel' | 'cluster';
  target: string;
  /** host:port of the node answering now (a cluster: every primary), empty while not connected. */
  node: string;
}

export function redisWhere(redis: Redis): RedisWhere {
  return {
    form: targetOf(redis)?.form ?? 'url',
    target: describeRedis(redis),
    node: redis.status === 'ready' ? currentNode(redis) : '',
  };
}

export function formatRedisWhere(w: RedisWhere): string {
  const form = { url: 'one server', sentinel: 'Sentinel', cluster: 'Cluster' }[w.form];
  return `redis: ${form}, ${w.target}${w.node ? `, node ${w.node}` : ' (not connected)'}`;
}
