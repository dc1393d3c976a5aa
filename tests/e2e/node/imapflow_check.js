// Drives hermod (or any IMAP server) with imapflow, the IMAP library of many
// Node.js mail apps; prints one JSON object with what it saw.
// usage: node imapflow_check.js PORT USER PASSWORD
'use strict';
const { ImapFlow } = require('imapflow');

async function main() {
  const [port, user, pass] = process.argv.slice(2);
  const client = new ImapFlow({
    host: '127.0.0.1', port: Number(port), secure: false, doSTARTTLS: false,
    auth: { user, pass }, logger: false,
  });
  const out = {};
  await client.connect();
  out.capabilities = [...client.capabilities.keys()];
  out.mailboxes = (await client.list()).map(m => ({ path: m.path, specialUse: m.specialUse || null }));
  const lock = await client.getMailboxLock('INBOX');
  try {
    out.exists = client.mailbox.exists;
    out.messages = [];
    for await (const msg of client.fetch('1:*', { uid: true, flags: true, envelope: true, bodyStructure: true })) {
      out.messages.push({ uid: msg.uid, subject: msg.envelope.subject, flags: [...msg.flags],
                          type: msg.bodyStructure.type });
    }
    const first = out.messages[0].uid;
    await client.messageFlagsAdd({ uid: first }, ['\\Flagged'], { uid: true });
    const appended = await client.append('INBOX', 'From: a@b.test\r\nTo: c@d.test\r\nSubject: from imapflow\r\n\r\nhello from imapflow\r\n', ['\\Seen']);
    out.appendUid = appended.uid || null;
    const dl = await client.download(String(appended.uid), undefined, { uid: true });
    let body = '';
    for await (const chunk of dl.content) body += chunk.toString();
    out.downloaded = body;
    out.searchFlagged = await client.search({ flagged: true }, { uid: true });
  } finally {
    lock.release();
  }
  await client.logout();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch(err => { process.stderr.write(String(err && err.stack || err) + '\n'); process.exit(1); });
