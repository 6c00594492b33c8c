// The fixed wordings of machine mail that classify.ts reads: the local parts and display names
// of mail systems' senders, and the subjects and opening lines of delivery reports, out-of-office
// replies and abuse reports, across MTAs and languages. Which of them is strong evidence and which
// only a weak signal is decided in classify.ts.

// The mail system's own senders, spelled the many ways MTAs spell them (quotes and a +tag or
// host suffix stripped before the test): mailer-daemon, MAILER_DAEMON, postmaster.host, ...
export const DAEMON_LOCAL_PART = /^(mail(er)?[-_.]?daemon|mmdf|double-bounce|mdaemon|smtp[-_.]?daemon)([+._-].*)?$/i;
// postmaster is a person's mailbox too (RFC 5321 §4.5.1: the site's mail administrator), who may
// write to support from it; Exchange and others also send their reports from it. Strong only
// beside a delivery-failure subject or a mail-system name; alone, a weak signal.
export const POSTMASTER_LOCAL_PART = /^post[-_.]?master([+._-].*)?$/i;
// Senders that are machines by role: antivirus and mail-gateway products and SMTP service
// accounts. Their non-delivery reports come from these, not from MAILER-DAEMON; a person might
// still write from "admin@", so these count only beside a delivery-failure subject or name.
export const GATEWAY_LOCAL_PART =
  /^(smtp([-_.]?(service|svc|relay|gateway|gw|admin|out|in))?|mail[-_.]?(gateway|gw|scan(ner)?|filter|guard|admin|system|server|relay|delivery(system|subsystem)?)|anti[-_.]?(virus|spam)|virus([-_.]?(alert|scan|wall|warning))?|av[-_.]?(gateway|gw|scan|alert|admin)|scanmail|interscan|mailsweeper|mailscanner|mailmarshal|ironport|quarantine|content[-_.]?filter|spam[-_.]?(filter|quarantine)|(ms)?exchange[-_.]?(admin|server)?|microsoftexchange\w*|nobody|system[-_.]?administrator|mail[-_.]?system)$/i;
export const NO_REPLY_LOCAL_PART = /^(no-?reply|do-?not-?reply|donotreply)([+._-].*)?$/i;
// Display names of mail systems, including the gateway products whose reports come from a
// postmaster address under the product's name ("InterScan MSS", "IronPort", "MailMarshal").
export const DAEMON_NAME = /\b(mail(er)?[ -]?daemon|mail delivery (subsystem|system|service)|postmaster|delivery status notification|mail (gateway|scanner|security)|anti-?virus|virus (scanner|alert)|system administrator|interscan|scanmail|mailsweeper|mailscanner|mailmarshal|ironport)\b/i;

// Subjects delivery reports use, across MTAs and languages. A weak signal on its own.
export const DSN_SUBJECT = new RegExp(
  [
    'undeliver(ed|able)',
    'non[- ]?deliver',
    'returned mail',
    'return(ed)? to sender',
    'mail delivery (failed|failure|error|problem)',
    'delivery (status notification|failure|failed|has failed|notification|problem|report)',
    'failure notice',
    'could not be delivered',
    'not (been )?delivered',
    'delivery (was )?delayed',
    'delayed mail',
    'warning: could not send',
    'mail system error',
    'permanent (delivery )?(failure|error)',
    'unzustellbar',
    'nicht zustellbar',
    'non remis',
    'non-remise',
    'message (could not|cannot|can\'t) be (delivered|sent)',
    'mail could not be',
    'bounced? (mail|message|notice)',
    'returned message',
    'unable to deliver',
    'delivery to the following recipient',
    'message rejected',
    'delivery failure notification',
    'could not deliver',
    'undeliverable message',
    // Other languages, the wording of their MTAs' reports.
    '[ée]chec de (la )?(remise|distribution)',
    'message non (remis|distribu[ée])',
    'no (se )?(pudo|puede) entregar',
    'mensaje no entregado',
    'error de entrega',
    'non recapitabil[ei]',
    'mancato recapito',
    'impossibile recapitare',
    'onbestelbaar',
    'niet (bezorgd|afgeleverd)',
    'n[ãa]o (foi )?(poss[íi]vel )?entreg',
    'falha (na|de) entrega',
    'olevererbar',
    'kunde inte levereras',
    'niedostarczaln',
    'nie (mo[żz]na|zosta[łl]a) dostarczy',
    'zustellung fehlgeschlagen',
    'fehlgeschlagene zustellung',
    'не доставлено',
    'недоставлен',
    '无法投递',
    '退信',
    'メールエラー',
    'エラー通知',
    '配信(エラー|不能|失敗)',
  ].join('|'),
  'i',
);

// Subjects that on their own, with no other marker, are trusted to mean a delivery report:
// the fixed wording of MTAs, anchored at the start. Looser phrases ("not delivered") are what
// customers write about parcels, so they only count beside a null sender or Auto-Submitted.
export const DSN_SUBJECT_ALONE =
  /^\s*((your )?(message|mail|e-?mail)( to .{1,200}?)? (could not|cannot|can't|was not|wasn't) (be )?delivered|delivery failure notification|undeliverable message|mail delivery failure|[ée]chec de (la )?remise|non recapitabile|onbestelbaar:|no se puede entregar|undelivered mail returned to sender|undeliver(able|ed)( mail| message)?:|returned mail:|mail delivery failed|delivery status notification \((failure|delay)\)|failure notice\s*$|delivery failure:|non[- ]?delivery (report|notification)|mail system error - returned mail|warning: could not send message for past|unzustellbar:|nicht zustellbar:|non remis|delivery has failed|message delivery has failed|delivery notification: delivery has failed)/i;

// The opening lines of delivery reports and out-of-office replies that carry no header saying
// so: read only from the start of the body, and only ever a weak signal.
export const DSN_BODY =
  /^\s*(this is the mail (system|delivery agent) at|this message was created automatically by mail delivery software|delivery to the following recipients? (failed|has been delayed)|your message (did not reach|could(n't| not) be delivered to) (some or all of )?its intended recipients|i'?m sorry to have to inform you that your message could not)/i;
export const VACATION_BODY = /^\s*((hello|hi|dear[^\n]{0,40})[,!.]?\s+)?(i am|i'm|i will be) (currently )?(out of (the )?office|on (vacation|holiday|annual leave|leave)|away from (the office|my desk))\b[^\n]{0,200}\b(until|returning|back on|back in|return on)\b/i;

// Subjects abuse-report services use when their reports are not ARF (Microsoft's JMRP).
export const FEEDBACK_SUBJECT = /^(complaint about message from|(email )?feedback report for)\b/i;

// Subjects of vacation and out-of-office replies: beside a null sender or X-Auto-Response-Suppress.
export const VACATION_SUBJECT =
  /^(\[[^\]]*\]\s*)?(auto(matic|mated)?[ _-]?(reply|response|respons|responder|answer|antwort)|autoreply|out of (the )?office|ooo\b|away\b|on (vacation|holiday|leave)|vacation|abwesenheit|automatische antwort|r[ée]ponse automatique|absence|fuera de la oficina|respuesta autom[áa]tica|risposta automatica|automatisch antwoord|afwezig|not in the office)/i;

// The same, trusted alone: only wording a person would not put on a request ("Vacation request
// for May" or "Away team meeting" are people writing).
export const VACATION_SUBJECT_ALONE =
  /^(\[[^\]]*\]\s*)?(abwesend\s*:|autosvar|automatisk svar|automaattinen vastaus|resposta autom[áa]tica|fora do escrit[óo]rio|fuori sede\s*:|poza biurem|i am (currently )?out of (the )?office|out of office auto-?reply|auto[- ]?response from|autoreply from|自動(応答|返信)|不在(通知|のお知らせ)|auto(matic|mated)?[ _-]?(reply|response|respons|responder|antwort)\s*:|autoreply\s*:|out of (the )?office( reply| autoreply| notice)?\s*:|abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|automatisch antwoord)/i;
