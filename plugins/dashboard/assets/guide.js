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

// Getting data back: what the repository holds, a check, and the three ways to restore (the
// files themselves, a tarball, a folder to browse). ARCHIVE is a name `borg list` gives.
export function borgRestore(url) {
  const u = shellWord(url);
  return [
    "# The archives the repository holds, newest last",
    `borg list ${u}`,
    "",
    "# Check the repository and its archives (the server also verifies it now and then)",
    `borg check ${u}`,
    "",
    "# Restore a folder of an archive into the current folder (paths as `borg list` shows them)",
    `borg extract --list ${u}::ARCHIVE home/me/Documents`,
    "",
    "# Or take the whole archive as a tarball",
    `borg export-tar ${u}::ARCHIVE restore.tar`,
    "",
    "# Or browse it as a folder (needs FUSE), then unmount",
    "mkdir -p /mnt/borg",
    `borg mount ${u}::ARCHIVE /mnt/borg`,
    "borg umount /mnt/borg",
  ].join("\n");
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
    "# What to back up.",
    "source_directories:",
    "    - /home",
    "    - /etc",
    "",
    "# Where: this repository on the backup host.",
    "repositories:",
    `    - path: ${yamlValue(url)}`,
    `      label: ${yamlText(alias)}`,
    "",
    "# Without this passphrase (and `borg key export`), nobody can read the backup: keep both",
    "# somewhere other than this machine.",
    "encryption_passphrase: 'CHANGE ME: a long passphrase, kept somewhere safe'",
    "compression: auto,zstd",
    "exclude_caches: true",
    "exclude_patterns:",
    "    - /home/*/.cache",
    "    - '*.tmp'",
    "",
    "# Retention: what `borgmatic` keeps when it prunes; older archives go. With an append-only",
    "# key, a prune only marks them deleted until a full key compacts.",
    "keep_daily: 7",
    "keep_weekly: 4",
    "keep_monthly: 6",
    "keep_yearly: 1",
    "",
    "# Consistency checks, from time to time (the server verifies the repository too).",
    "checks:",
    "    - name: repository",
    "      frequency: 2 weeks",
    "    - name: archives",
    "      frequency: 1 month",
    "",
    "# Hooks: commands before and after a backup, and when anything fails.",
    "before_backup:",
    "    - echo \"Backup of $(hostname) starting\"",
    "after_backup:",
    "    - echo \"Backup of $(hostname) done\"",
    "on_error:",
    "    - echo \"Backup of $(hostname) failed\" | mail -s 'borgmatic failed' root",
    "",
  ].join("\n");
}
