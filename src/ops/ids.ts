// How a person names a job on the command line. Mailroom's job ids contain ':' and '|'
// (`support:42:7`, `provision|acme.atlassian.net|a@b.c`) and may contain '/' (a Message-ID in
// `deliver|…|<a/b@c>`), so the rule is:
//   - `<queue>/<jobId>`: split at the FIRST '/', and only when the part before it is a known
//     queue name; everything after it is the job id, verbatim.
//   - anything else is a bare job id, looked up in every queue (or in --queue when given).
// `failed list` prints jobs in the `<queue>/<jobId>` form, so what it prints can be pasted back.

export interface JobRef {
  /** Known when the reference named it (or --queue did); otherwise every queue is searched. */
  queue?: string;
  id: string;
}

export function parseJobRef(arg: string, queueNames: readonly string[], queueOpt?: string): JobRef {
  if (queueOpt !== undefined && !queueNames.includes(queueOpt)) {
    throw new Error(`unknown queue "${queueOpt}": one of ${queueNames.join(', ')}`);
  }
  const slash = arg.indexOf('/');
  if (slash > 0) {
    const head = arg.slice(0, slash);
    if (queueNames.includes(head)) {
      const id = arg.slice(slash + 1);
      if (!id) throw new Error(`"${arg}" names a queue but no job id`);
      if (queueOpt !== undefined && queueOpt !== head) {
        throw new Error(`"${arg}" is in queue ${head}, but --queue says ${queueOpt}`);
      }
      return { queue: head, id };
    }
  }
  if (!arg) throw new Error('empty job id');
  return queueOpt !== undefined ? { queue: queueOpt, id: arg } : { id: arg };
}

export function formatJobRef(queue: string, id: string): string {
  return `${queue}/${id}`;
}
