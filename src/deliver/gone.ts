// Jira answers 404 both for an issue that is gone and for one the account may not see ("Issue
// does not exist or you do not have permission to see it."). Before a reply whose issue
// answered 404 becomes a new issue, establish which (docs/jira-index-lag.md, "404"):
//   - GET the issue with the token: a 200 means it is there (moved issues answer under their old
//     key too): the 404 was not "gone", and no new issue is made (retried);
//   - a 404 there too: ask /mypermissions for Browse projects in the issue's project. Held: the
//     account sees every issue of the project (issue security levels aside), so the issue is
//     gone. Not held, or the project itself answers 404 (deleted, or hidden from the account):
//     it cannot be told apart, and the job fails with the reason instead of making an issue.
import { NotFoundError, PermanentError, RetryableError } from '../core/errors.js';
import type { Delivery } from './delivery.js';

/** Returns when `issueKey` is established gone; throws (no new issue) otherwise. */
export async function establishGone(d: Delivery, issueKey: string, answered: string): Promise<void> {
  try {
    await d.client.getIssue(issueKey, ['project']);
    throw new RetryableError(`Jira answered 404 to ${answered} on ${issueKey}, but the issue reads fine with the same token: not making a new issue; trying again`);
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
  }
  const project = /^([A-Z][A-Z0-9_]*)-\d+$/i.exec(issueKey)?.[1]?.toUpperCase();
  let browse = false;
  if (project) {
    try {
      browse = (await d.client.myPermissions(['BROWSE_PROJECTS'], { projectKey: project })).BROWSE_PROJECTS === true;
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }
  if (browse) {
    d.ctx.log.info({ issueKey }, 'the issue this mail answers is gone (404, and the token may browse its project): a new issue is made');
    return;
  }
  throw new PermanentError(
    `Jira answers 404 for ${issueKey} (the issue this mail answers): it was deleted, or the workaround user may not see it ` +
      `(it lacks Browse projects in ${project ?? 'its project'}, or the project is gone or hidden from it). Not making a new issue while that is unknown: ` +
      `grant the workaround user Browse projects there and reprocess the mail, or reprocess it once the issue is known to be deleted`,
  );
}
