// The issue properties delivery writes in Jira: names stored outside the process (recovery and
// the reply loop read them back), so they never change.
/** Issue property holding the Message-ID of the mail an issue was made from. */
export const MESSAGE_PROPERTY = 'mailroom.message';
/** Issue property listing the Message-IDs of mails added to an issue as comments. */
export const COMMENTS_PROPERTY = 'mailroom.comments';
