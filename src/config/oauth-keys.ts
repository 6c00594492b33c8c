// Where an auth block's secrets sit in config.secrets.oauth: one entry per mailbox IMAP login, one for SMTP.
export const oauthKey = { imap: (mailboxId: string) => `imap:${mailboxId}`, smtp: 'smtp' } as const;
