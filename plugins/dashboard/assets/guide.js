// What a client runs to back up into a repository: the borg commands, a borgmatic
// configuration, with the repository's real URL. Pure functions of the repository.

// Characters a shell and YAML read as themselves: a value made of these alone is shown as it is.
const PLAIN = /^[A-Za-z0-9@%+=:,./_-]+$/;

// One shell word, whatever the value holds: the server checks FQDN and UNIX_USER at start, and
// this keeps a pasted command a single argument even so.
export function shellWord(s) {
  const text = String(s);
  return PLAIN.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

export function borgInit(url) {
  return `borg init --encryption=repokey-blake2 ${shellWord(url)}`;
}

export function borgCreate(url) {
  return `borg create --stats --compression auto,zstd ${shellWord(url)}::{hostname}-{now} ~/`;
}

// YAML strings in single quotes: an alias is text, whatever it holds.
function yamlText(s) {
  return `'${String(s).replace(/'/g, "''").replace(/[\r\n]+/g, " ")}'`;
}

function yamlValue(s) {
  return PLAIN.test(String(s)) ? String(s) : yamlText(s);
}

export function borgmaticConfig(url, alias) {
  return [
    "source_directories:",
    "    - /home",
    "    - /etc",
    "",
    "repositories:",
    `    - path: ${yamlValue(url)}`,
    `      label: ${yamlText(alias)}`,
    "",
    "encryption_passphrase: 'CHANGE ME: a long passphrase, kept somewhere safe'",
    "compression: auto,zstd",
    "exclude_caches: true",
    "",
    "keep_daily: 7",
    "keep_weekly: 4",
    "keep_monthly: 6",
    "",
    "checks:",
    "    - name: repository",
    "      frequency: 2 weeks",
    "",
  ].join("\n");
}
