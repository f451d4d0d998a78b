//! Checking an SSH server's host key against an OpenSSH `known_hosts` file.
//!
//! Written here rather than taken from russh, whose checker numbers lines wrongly after a
//! comment (the "changed key" message must name the right line), splits fields on single
//! spaces only, and knows neither wildcards, negations nor `@revoked`. What is read:
//!
//! * `host[,host...] keytype base64 [comment]`, fields separated by spaces or tabs;
//! * host patterns as OpenSSH writes and reads them: plain names, `[host]:port` for a port
//!   other than 22, hashed `|1|salt|hmac` entries (`ssh-keygen -H`), `*` and `?` wildcards
//!   and `!negated` patterns;
//! * `@revoked` lines (such a key is refused even if listed elsewhere); `@cert-authority`
//!   lines are skipped: this client does not accept host certificates.
//!
//! Blank lines, comments and lines whose key cannot be read are skipped, as OpenSSH does.

use std::path::Path;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use russh::keys::ssh_key::{Algorithm, HashAlg, PublicKey};

/// What a `known_hosts` file says about a server's host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A line for this host lists exactly this key.
    Known,
    /// No line is about this host (under this port).
    Unknown,
    /// Lines are about this host, but none lists this key: it changed, or someone is in
    /// between. `line` is the first such line (1-based), the one to look at.
    Changed { line: usize },
    /// An `@revoked` line lists this key.
    Revoked { line: usize },
}

/// One usable line: which hosts it is about, and the key.
struct Entry<'a> {
    line: usize,
    revoked: bool,
    patterns: &'a str,
    key: PublicKey,
}

/// The name a `known_hosts` file files a server under: the host alone on port 22,
/// `[host]:port` otherwise (OpenSSH's convention).
pub(super) fn host_entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The SHA-256 fingerprint as `ssh-keygen -l` prints it (`SHA256:...`), which is what a
/// person compares with the one Alipay gives them.
pub(super) fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Checks `key` of `host`:`port` against the text of a `known_hosts` file.
pub(super) fn check(text: &str, host: &str, port: u16, key: &PublicKey) -> Verdict {
    let name = host_entry_name(host, port);
    let mut first_other: Option<usize> = None;
    let mut known = false;
    for entry in entries(text).filter(|entry| host_matches(entry.patterns, &name)) {
        let same_key = entry.key.key_data() == key.key_data();
        if entry.revoked {
            if same_key {
                return Verdict::Revoked { line: entry.line };
            }
            continue;
        }
        if same_key {
            known = true;
        } else {
            first_other.get_or_insert(entry.line);
        }
    }
    match (known, first_other) {
        (true, _) => Verdict::Known,
        (false, Some(line)) => Verdict::Changed { line },
        (false, None) => Verdict::Unknown,
    }
}

/// The key types recorded for `host`:`port`, in file order without repeats, so the client
/// can ask the server for a key it can check (as OpenSSH does) rather than for one the file
/// does not list.
pub(super) fn recorded_algorithms(text: &str, host: &str, port: u16) -> Vec<Algorithm> {
    let name = host_entry_name(host, port);
    let mut algorithms: Vec<Algorithm> = Vec::new();
    for entry in entries(text).filter(|entry| !entry.revoked && host_matches(entry.patterns, &name))
    {
        let algorithm = entry.key.algorithm();
        if !algorithms.contains(&algorithm) {
            algorithms.push(algorithm);
        }
    }
    algorithms
}

fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().enumerate().filter_map(|(index, raw)| {
        let mut fields = raw.split_ascii_whitespace();
        let mut first = fields.next()?;
        if first.starts_with('#') {
            return None;
        }
        let revoked = match first {
            "@revoked" => true,
            // Certificate authorities, and any marker this reader does not know.
            marker if marker.starts_with('@') => return None,
            _ => false,
        };
        if first.starts_with('@') {
            first = fields.next()?;
        }
        let algorithm = fields.next()?;
        let base64 = fields.next()?;
        let key = PublicKey::from_openssh(&format!("{algorithm} {base64}")).ok()?;
        Some(Entry {
            line: index + 1,
            revoked,
            patterns: first,
            key,
        })
    })
}

/// OpenSSH's rule: a line is about a host when one pattern matches and no negated pattern
/// does.
fn host_matches(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if pattern_matches(negated, name) {
                return false;
            }
        } else if pattern_matches(pattern, name) {
            matched = true;
        }
    }
    matched
}

fn pattern_matches(pattern: &str, name: &str) -> bool {
    if let Some(hashed) = pattern.strip_prefix("|1|") {
        return hashed_matches(hashed, name);
    }
    wildcard_matches(
        pattern.to_ascii_lowercase().as_bytes(),
        name.to_ascii_lowercase().as_bytes(),
    )
}

/// `|1|<base64 salt>|<base64 HMAC-SHA1(salt, name)>`, as `ssh-keygen -H` writes it. SHA-1 is
/// OpenSSH's choice for this format; it only hides names, it authenticates nothing.
fn hashed_matches(hashed: &str, name: &str) -> bool {
    let Some((salt, mac)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(mac)) = (STANDARD.decode(salt), STANDARD.decode(mac)) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    hmac::verify(&key, name.as_bytes(), &mac).is_ok()
}

/// `*` matches any run of characters, `?` any one; everything else itself.
fn wildcard_matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| wildcard_matches(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && wildcard_matches(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && wildcard_matches(rest, &name[1..]),
    }
}

/// Reads the file; a missing or unreadable one is the caller's error to word.
pub(super) fn read(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two throw-away Ed25519 public keys (made by ssh-keygen for these tests only).
    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILui3gVrGfMeBgfYnDA/sQsS6/LnxRH3KCHmnxVgEUw4";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILxwfMnXeaThgNVQl7/brV4qJdaWfJYdt7us2RQppSiT";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    #[test]
    fn plain_and_bracketed_entries() {
        let text = format!("sftp.example.com {KEY_A}\n[127.0.0.1]:2222 {KEY_B}\n");
        assert_eq!(
            check(&text, "sftp.example.com", 22, &key(KEY_A)),
            Verdict::Known
        );
        assert_eq!(
            check(&text, "SFTP.example.com", 22, &key(KEY_A)),
            Verdict::Known
        );
        assert_eq!(check(&text, "127.0.0.1", 2222, &key(KEY_B)), Verdict::Known);
        // The port is part of the name: the same host on 22 is another server.
        assert_eq!(check(&text, "127.0.0.1", 22, &key(KEY_B)), Verdict::Unknown);
        assert_eq!(
            check(&text, "sftp.example.com", 2222, &key(KEY_A)),
            Verdict::Unknown
        );
        assert_eq!(
            check(&text, "other.example.com", 22, &key(KEY_A)),
            Verdict::Unknown
        );
    }

    #[test]
    fn a_changed_key_names_the_right_line_after_comments_and_blanks() {
        let text = format!("# a comment\n\n   \nsftp.example.com\t{KEY_A} old server\n");
        assert_eq!(
            check(&text, "sftp.example.com", 22, &key(KEY_B)),
            Verdict::Changed { line: 4 }
        );
    }

    #[test]
    fn any_listed_key_of_the_host_is_accepted() {
        let text = format!("h {KEY_A}\nh {KEY_B}\n");
        assert_eq!(check(&text, "h", 22, &key(KEY_B)), Verdict::Known);
    }

    #[test]
    fn hashed_entries_match_their_host_only() {
        // HMAC-SHA1 of "sftp.example.com" under the salt, as `ssh-keygen -H` computes it.
        let salt = b"0123456789abcdefghij";
        let mac = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt),
            b"sftp.example.com",
        );
        let entry = format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(mac.as_ref())
        );
        let text = format!("{entry} {KEY_A}\n");
        assert_eq!(
            check(&text, "sftp.example.com", 22, &key(KEY_A)),
            Verdict::Known
        );
        assert_eq!(
            check(&text, "sftp.example.org", 22, &key(KEY_A)),
            Verdict::Unknown
        );
        assert_eq!(
            check(&text, "sftp.example.com", 22, &key(KEY_B)),
            Verdict::Changed { line: 1 }
        );
    }

    #[test]
    fn wildcards_and_negations() {
        let text = format!("*.example.com,!evil.example.com {KEY_A}\n");
        assert_eq!(
            check(&text, "sftp.example.com", 22, &key(KEY_A)),
            Verdict::Known
        );
        assert_eq!(
            check(&text, "evil.example.com", 22, &key(KEY_A)),
            Verdict::Unknown
        );
        let text = format!("sftp?.example.com {KEY_A}\n");
        assert_eq!(
            check(&text, "sftp2.example.com", 22, &key(KEY_A)),
            Verdict::Known
        );
        assert_eq!(
            check(&text, "sftp.example.com", 22, &key(KEY_A)),
            Verdict::Unknown
        );
    }

    #[test]
    fn revoked_keys_are_refused_and_cert_authorities_skipped() {
        let text = format!("h {KEY_A}\n@revoked * {KEY_A}\n@cert-authority h {KEY_B}\n");
        assert_eq!(
            check(&text, "h", 22, &key(KEY_A)),
            Verdict::Revoked { line: 2 }
        );
        assert_eq!(
            check(&text, "h", 22, &key(KEY_B)),
            Verdict::Changed { line: 1 }
        );
    }

    #[test]
    fn unreadable_lines_are_skipped() {
        let text = format!("h ssh-ed25519 not-base64\nh\nh {KEY_A}\n");
        assert_eq!(check(&text, "h", 22, &key(KEY_A)), Verdict::Known);
        assert_eq!(
            recorded_algorithms(&text, "h", 22),
            vec![Algorithm::Ed25519]
        );
        assert!(recorded_algorithms(&text, "x", 22).is_empty());
    }

    #[test]
    fn fingerprints_read_like_ssh_keygen() {
        // `ssh-keygen -lf` of KEY_A printed this fingerprint.
        assert_eq!(
            fingerprint(&key(KEY_A)),
            "SHA256:9Z0i+c3NTRrF41nqdz3bpkZjHtoGSNKpKvQrjG+otGA"
        );
    }
}
