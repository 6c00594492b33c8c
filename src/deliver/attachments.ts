// The mail's attachments go up one step each, from the raw mail in the store; each one done is
// recorded in the job's data, so a re-run uploads only what is not up yet. Then the issue's
// MESSAGE_PROPERTY says complete.
import { PermanentError } from '../core/errors.js';
import { attachmentName } from '../mail/content.js';
import { PermissionError } from '../jira/errors.js';
import { textToAdf } from './adf.js';
import type { Delivery, Target } from './delivery.js';
import { MESSAGE_PROPERTY } from './properties.js';
import { formatBytes } from './route.js';

/** Uploads what is not up yet; how many attachments were over the route's size limit. */
export async function uploadAttachments(d: Delivery, target: Target): Promise<number> {
  const { state } = d;
  const limit = d.route.maxAttachmentBytes;
  let oversize = 0;
  const { attachments } = await d.mail();
  // Past the count cap nothing is uploaded (the body names them, see oversizeNotes).
  const { upload } = d.uploadPlan(attachments);
  for (const a of attachments) {
    if (a.size > limit) {
      oversize++;
      continue;
    }
    if (state.uploaded.includes(a.index) || !upload.includes(a)) continue;
    try {
      // Named again: content stored by an older version kept the mail's name as it came.
      await d.client.addAttachment(target.issueKey, attachmentName(a.filename, a.contentType, a.index), a.content, a.contentType);
    } catch (e) {
      if (!(e instanceof PermanentError)) throw e;
      // Jira refused this file for good (its own size limit, a blocked type, a 403: no Create
      // attachments in this project, or attachments off for the site): say so in the issue, go on.
      state.failed.push(`${a.filename} (${formatBytes(a.size)}): ${e.message}`);
    }
    state.uploaded.push(a.index);
    await d.save();
  }
  await noteRefused(d, target);
  if (target.kind !== 'comment' && !state.propertyComplete) {
    // Marks the issue complete, so a job that finds it after a Redis loss knows its
    // attachments are there. A mail with nothing to upload was complete at creation.
    await markComplete(d, target);
  }
  state.finished = true;
  await d.save();
  return oversize;
}

/**
 * Without Edit issues in the project the mark cannot be set: the mail is delivered and the
 * ledger knows its issue, so say so and go on (only a recovery after a Redis loss would upload
 * its attachments again).
 */
async function markComplete(d: Delivery, target: Target): Promise<void> {
  try {
    await d.client.setIssueProperty(target.issueKey, MESSAGE_PROPERTY, d.propertyValue(true));
  } catch (e) {
    if (!(e instanceof PermissionError)) throw e;
    d.ctx.log.warn({ issueKey: target.issueKey, permission: e.permission }, 'could not mark the issue complete (permission missing): delivered without the mark');
  }
}

/** One comment naming the attachments Jira refused, once. */
async function noteRefused(d: Delivery, target: Target): Promise<void> {
  const { state } = d;
  if (!state.failed.length || state.failureNoted) return;
  try {
    await d.client.addComment(target.issueKey, textToAdf(['Mailroom could not upload these attachments of the mail:', ...state.failed].join('\n')));
  } catch (e) {
    // No Add comments either: the refused files stay named in the job's result and audit trail.
    if (!(e instanceof PermissionError)) throw e;
    d.ctx.log.warn({ issueKey: target.issueKey, refused: state.failed }, 'could not name the refused attachments in the issue (no Add comments)');
  }
  state.failureNoted = true;
  await d.save();
}
