// What a client runs to back up into a repository: the borg commands, a borgmatic
// configuration, with the repository's real URL. Pure functions of the repository.

export function borgInit(url) {
  return `borg init --encryption=repokey-blake2 ${url}`;
}

export function borgCreate(url) {
  return `borg create --stats --compression auto,zstd ${url}::{hostname}-{now} ~/`;
}

// YAML strings in single quotes: an alias is text, whatever it holds.
function yamlText(s) {
  return `'${String(s).replace(/'/g, "''").replace(/[\r\n]+/g, " ")}'`;
}

export function borgmaticConfig(url, alias) {
  return [
    "source_directories:",
    "    - /home",
    "    - /etc",
    "",
    "repositories:",
    `    - path: ${url}`,
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
