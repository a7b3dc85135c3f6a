//! Client public keys: what the API accepts, and how keys on `authorized_keys` lines compare.

use ::ssh_key::public::KeyData;
use ::ssh_key::PublicKey;
use base64::Engine;

/// Key types a repository may be pinned to.
pub const ALLOWED_TYPES: &[&str] = &[
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

const MIN_RSA_BITS: usize = 2048;
/// OpenSSH's own limit (`SSH_RSA_MAXIMUM_MODULUS_SIZE`): sshd and `ssh-keygen` refuse a larger
/// key, so its client could never log in.
const MAX_RSA_BITS: usize = 16384;

/// A validated client key: `kind BASE64[ comment]`, with its decoded blob for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey {
    pub kind: String,
    pub base64: String,
    pub comment: String,
    blob: Vec<u8>,
}

impl ClientKey {
    /// Parses one OpenSSH public key as the contract's Validation section says; the error is a
    /// sentence for the 422 `detail`.
    /// Surrounding white space (a trailing `\n` or `\r\n` of a key read from a file) is trimmed
    /// first; a control character inside stays refused.
    pub fn parse(input: &str) -> Result<ClientKey, String> {
        let text = input.trim_matches(|c: char| c.is_whitespace());
        if text.chars().any(char::is_control) {
            return Err("sshPublicKey must be one key on one line, without control characters".into());
        }
        let mut parts = text.splitn(3, ' ');
        let kind = parts.next().unwrap_or_default();
        let data = parts.next().unwrap_or_default();
        let comment = parts.next().unwrap_or_default().trim();
        if !ALLOWED_TYPES.contains(&kind) {
            return Err(format!(
                "sshPublicKey must start with one of the key types {} (no options in front)",
                ALLOWED_TYPES.join(", ")
            ));
        }
        if second_key_in(comment) {
            return Err("sshPublicKey must hold one key; its comment holds a second one".into());
        }
        let key = PublicKey::from_openssh(&format!("{kind} {data}"))
            .map_err(|_| format!("sshPublicKey: the base64 part is not a valid {kind} key"))?;
        if let KeyData::Rsa(rsa) = key.key_data() {
            let bits = mpint_bits(rsa.n.as_bytes());
            if bits < MIN_RSA_BITS {
                return Err(format!("sshPublicKey: RSA keys need at least {MIN_RSA_BITS} bits, this one has {bits}"));
            }
            if bits > MAX_RSA_BITS {
                return Err(format!(
                    "sshPublicKey: RSA keys may have at most {MAX_RSA_BITS} bits (OpenSSH refuses larger ones), this \
                     one has {bits}"
                ));
            }
        }
        let blob = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| "sshPublicKey: the base64 part does not decode".to_string())?;
        Ok(ClientKey { kind: kind.to_string(), base64: data.to_string(), comment: comment.to_string(), blob })
    }

    /// `kind BASE64[ comment]`, as it stands on the `authorized_keys` line.
    pub fn to_openssh(&self) -> String {
        if self.comment.is_empty() {
            format!("{} {}", self.kind, self.base64)
        } else {
            format!("{} {} {}", self.kind, self.base64, self.comment)
        }
    }

    /// The identity used to refuse duplicates: key type and key data, never the comment.
    pub fn identity(&self) -> KeyIdentity {
        KeyIdentity { kind: self.kind.clone(), blob: self.blob.clone() }
    }
}

/// The host's public keys found at `pattern` (a path whose file name may hold one `*`, such as
/// `/etc/ssh/ssh_host_*_key.pub`), as `(type, "SHA256:...")` the way `ssh-keygen -l` prints
/// them, sorted by type. Unreadable or malformed files are left out.
pub fn host_key_fingerprints(pattern: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(pattern);
    let (dir, name) = match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        (Some(d), Some(n)) => (d, n),
        _ => return Vec::new(),
    };
    let (prefix, suffix) = name.split_once('*').unwrap_or((name, ""));
    let exact = !name.contains('*');
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { dir })
    else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if exact {
                n == name
            } else {
                n.len() >= prefix.len() + suffix.len() && n.starts_with(prefix) && n.ends_with(suffix)
            }
        })
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|text| PublicKey::from_openssh(text.trim()).ok())
        .map(|k| (k.algorithm().as_str().to_string(), k.fingerprint(::ssh_key::HashAlg::Sha256).to_string()))
        .collect();
    out.sort();
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyIdentity {
    pub kind: String,
    pub blob: Vec<u8>,
}

/// A key identity in 16 bytes (SHA-256 of type and blob, cut): what the in-memory index keeps
/// per repository instead of the key itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest([u8; 16]);

impl KeyIdentity {
    pub fn digest(&self) -> KeyDigest {
        digest_of(&self.kind, &self.blob)
    }
}

fn digest_of(kind: &str, blob: &[u8]) -> KeyDigest {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0u8]);
    h.update(blob);
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    KeyDigest(out)
}

/// The digest of a stored `kind BASE64[ comment]` without parsing the key again (start-up reads
/// every record); `None` when the text is not of that shape.
pub fn digest_of_stored(key: &str) -> Option<KeyDigest> {
    let mut parts = key.split(' ');
    let kind = parts.next()?;
    let blob = base64::engine::general_purpose::STANDARD.decode(parts.next()?).ok()?;
    Some(digest_of(kind, &blob))
}

/// A key's id in the API and on the session recorder's line: the first 16 lowercase hex
/// characters of the SHA-256 of the key blob (path-safe). `None` for a key that does not decode.
pub fn key_id(key: &str) -> Option<String> {
    use sha2::Digest as _;
    let blob = base64::engine::general_purpose::STANDARD.decode(key.split(' ').nth(1)?).ok()?;
    Some(hex::encode(&sha2::Sha256::digest(&blob)[..8]))
}

/// A key's fingerprint as `ssh-keygen -l` prints it: `SHA256:` and the unpadded base64 of the
/// SHA-256 of the key blob. `None` for a key that does not decode.
pub fn fingerprint(key: &str) -> Option<String> {
    use sha2::Digest as _;
    let blob = base64::engine::general_purpose::STANDARD.decode(key.split(' ').nth(1)?).ok()?;
    Some(format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha2::Sha256::digest(&blob))))
}

/// True when `comment` holds a key type followed by a key of that type, as in
/// `ssh-ed25519 AAAA... ssh-ed25519 BBBB...`: sshd would read one key, a reader another.
fn second_key_in(comment: &str) -> bool {
    let words: Vec<&str> = comment.split_whitespace().collect();
    words.windows(2).any(|pair| {
        let (kind, data) = (pair[0], pair[1]);
        let known = ALLOWED_TYPES.contains(&kind) || kind == "ssh-dss";
        known
            && base64::engine::general_purpose::STANDARD
                .decode(data)
                .is_ok_and(|blob| blob.len() > 4 + kind.len() && &blob[4..4 + kind.len()] == kind.as_bytes())
    })
}

/// Bits in a big-endian unsigned integer as SSH encodes it (a leading zero byte may pad it).
fn mpint_bits(bytes: &[u8]) -> usize {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    match trimmed.first() {
        None => 0,
        Some(first) => (trimmed.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// The key on any `authorized_keys` line (options first or not), for duplicate checks against
/// lines this server did not write. Lines without a recognizable key give `None`.
pub fn key_on_line(line: &str) -> Option<KeyIdentity> {
    let tokens = split_outside_quotes(line.trim());
    let at = tokens.iter().position(|t| t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-"))?;
    let kind = tokens[at];
    let data = tokens.get(at + 1)?;
    let blob = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
    Some(KeyIdentity { kind: kind.to_string(), blob })
}

/// Splits on spaces and tabs that are not inside double quotes (options such as
/// `command="a b"` hold spaces).
fn split_outside_quotes(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                start.get_or_insert(i);
            }
            ' ' | '\t' if !quoted => {
                if let Some(s) = start.take() {
                    out.push(&line[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        out.push(&line[s..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host";

    #[test]
    fn the_fingerprint_is_what_ssh_keygen_prints() {
        // `ssh-keygen -lf` of ED: "256 SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU me@host (ED25519)".
        assert_eq!(fingerprint(ED).as_deref(), Some("SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"));
        assert_eq!(fingerprint("ssh-ed25519 !!"), None);
    }

    #[test]
    fn accepts_ed25519_and_keeps_comment() {
        let k = ClientKey::parse(ED).unwrap();
        assert_eq!(k.kind, "ssh-ed25519");
        assert_eq!(k.comment, "me@host");
        assert_eq!(k.to_openssh(), ED);
    }

    #[test]
    fn refuses_what_the_contract_refuses() {
        let data = ED.split(' ').nth(1).unwrap();
        for bad in [
            format!("{ED}\nssh-ed25519 {data} second"),
            format!("command=\"sh\" {ED}"),
            format!("ssh-rsa {data}"),
            format!("ssh-ed25519 {}", &data[..20]),
            format!("ssh-dss {data}"),
            String::new(),
            "ssh-ed25519".into(),
        ] {
            assert!(ClientKey::parse(&bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn a_trailing_newline_is_trimmed_an_inner_one_is_not() {
        for input in [format!("{ED}\n"), format!("{ED}\r\n"), format!("  {ED}\t\n")] {
            assert_eq!(ClientKey::parse(&input).unwrap().to_openssh(), ED, "{input:?}");
        }
        let data = ED.split(' ').nth(1).unwrap();
        assert!(ClientKey::parse(&format!("ssh-ed25519 {data} me\n@host")).is_err());
        assert!(ClientKey::parse(&format!("ssh-ed25519 {data} me\u{7}")).is_err());
    }

    #[test]
    fn a_comment_that_only_looks_like_a_key_is_kept() {
        let data = ED.split(' ').nth(1).unwrap();
        for comment in ["ssh-ed25519 laptop", "sk-laptop abcd", "ssh-ed25519"] {
            let k = ClientKey::parse(&format!("ssh-ed25519 {data} {comment}")).unwrap();
            assert_eq!(k.comment, comment);
        }
    }

    #[test]
    fn finds_keys_on_foreign_lines() {
        let id = ClientKey::parse(ED).unwrap().identity();
        assert_eq!(key_on_line(ED), Some(id.clone()));
        let with_opts = format!("command=\"echo a b\",no-pty {}", ED);
        assert_eq!(key_on_line(&with_opts), Some(id));
        assert_eq!(key_on_line("# a comment"), None);
        assert_eq!(key_on_line(""), None);
    }

    #[test]
    fn a_stored_key_and_its_parsed_identity_have_one_digest() {
        let id = ClientKey::parse(ED).unwrap().identity();
        assert_eq!(digest_of_stored(ED), Some(id.digest()));
        let other = format!("ssh-rsa {}", ED.split(' ').nth(1).unwrap());
        assert_ne!(digest_of_stored(&other), Some(id.digest()));
        assert_eq!(digest_of_stored("nonsense"), None);
    }

    #[test]
    fn mpint_bit_count() {
        assert_eq!(mpint_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(mpint_bits(&[0x01]), 1);
        assert_eq!(mpint_bits(&[]), 0);
    }
}
