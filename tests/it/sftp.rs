//! `reconcile::sftp::fetch_day` against a real OpenSSH server (support/sshd.rs): the day's
//! reports are fetched and nothing else, the host key is checked against known_hosts (an
//! unknown or a changed key refused), a wrong identity is refused, a day not published yet
//! says so, and a second fetch replaces the first atomically, even when the connection
//! breaks in the middle.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use alipay_pos::config::{Config, ReconciliationConfig};
use alipay_pos::locale::Locale;
use alipay_pos::reconcile::sftp::{FetchProgress, FetchedFile, SftpError, fetch_day};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::sshd::{self, Sshd};

const CUSTOMER: &str = "2188120000000001";
const DATE: &str = "20261130";

/// The three report kinds, one large enough for several progress chunks, and two entries
/// that must be left alone: a file with another name and a folder with a report's name.
fn publish_day(sshd: &Sshd) -> PathBuf {
    let folder = sshd.root().join("v1/settlements").join(CUSTOMER).join(DATE);
    fs::create_dir_all(&folder).unwrap();
    fs::write(
        folder.join("transactionItems_20261130_000.csv"),
        "transactionRequestId,transactionAmountValue\nPAY-1,12.34\n<END>\n",
    )
    .unwrap();
    fs::write(
        folder.join("settlementItems_USD_B20261130_000.csv"),
        large_report(),
    )
    .unwrap();
    fs::write(
        folder.join("settlementSummary_USD_B20261130_000.csv"),
        "summaryType,settlementAmountValue\nTOTAL,12.34\n<END>\n",
    )
    .unwrap();
    fs::write(folder.join("README.txt"), "not a report\n").unwrap();
    fs::create_dir(folder.join("transactionItems_20261130_001.csv")).unwrap();
    folder
}

/// About 2 MB of rows: dozens of 64 KiB chunks, and several of the server's reads.
fn large_report() -> String {
    let mut text = String::from("transactionRequestId,transactionAmountValue\n");
    for row in 0..100_000 {
        text.push_str(&format!("PAY-{row:08},{}.{:02}\n", row % 500, row % 100));
    }
    text.push_str("<END>\n");
    text
}

/// A config folder with a `[reconciliation]` table for this server, loaded the way the
/// terminal loads its file. `known_hosts` and `port` default to the server's own.
struct Client {
    dir: TempDir,
}

impl Client {
    fn new() -> Client {
        Client {
            dir: TempDir::new().unwrap(),
        }
    }

    fn config(
        &self,
        sshd: &Sshd,
        port: u16,
        known_hosts: &Path,
        identity: &Path,
    ) -> ReconciliationConfig {
        let toml = format!(
            "[reconciliation]\n\
             sftp_host = \"127.0.0.1\"\n\
             sftp_port = {port}\n\
             username = {user:?}\n\
             identity_file = {identity:?}\n\
             known_hosts = {known_hosts:?}\n\
             customer_id = \"{CUSTOMER}\"\n\
             remote_root = {root:?}\n",
            user = sshd.user(),
            identity = identity.display().to_string(),
            known_hosts = known_hosts.display().to_string(),
            root = sshd.root().display().to_string(),
        );
        let path = self.dir.path().join("config.toml");
        fs::write(&path, toml).unwrap();
        Config::load(&path)
            .unwrap()
            .reconciliation
            .expect("the [reconciliation] table was loaded")
    }

    fn for_server(&self, sshd: &Sshd) -> ReconciliationConfig {
        self.config(sshd, sshd.port(), &sshd.known_hosts(), &sshd.identity())
    }

    /// Where reports are downloaded to.
    fn reports_dir(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    /// A known_hosts file in the client's folder with these lines.
    fn known_hosts(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("known_hosts");
        fs::write(&path, text).unwrap();
        path
    }
}

async fn fetch(
    config: &ReconciliationConfig,
    into: &Path,
) -> (Result<Vec<FetchedFile>, SftpError>, Vec<FetchProgress>) {
    let mut events = Vec::new();
    let result = fetch_day(config, DATE, into, &mut |event| events.push(event)).await;
    (result, events)
}

/// Names in `dir`, sorted; empty when it does not exist.
fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn fetches_the_days_reports_and_nothing_else_with_progress() {
    let sshd = Sshd::start();
    let folder = publish_day(&sshd);
    let client = Client::new();
    let config = client.for_server(&sshd);
    let (result, events) = fetch(&config, &client.reports_dir()).await;
    let files = result.unwrap_or_else(|err| panic!("{err}\nsshd log:\n{}", sshd.log()));

    let expected = [
        "settlementItems_USD_B20261130_000.csv",
        "settlementSummary_USD_B20261130_000.csv",
        "transactionItems_20261130_000.csv",
    ];
    assert_eq!(
        files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        names_in(&client.reports_dir()),
        expected,
        "no temp file or other file left"
    );
    let mut total = 0;
    for file in &files {
        let served = fs::read(folder.join(&file.name)).unwrap();
        assert_eq!(file.path, client.reports_dir().join(&file.name));
        assert_eq!(fs::read(&file.path).unwrap(), served, "{}", file.name);
        assert_eq!(file.bytes, served.len() as u64);
        total += file.bytes;
    }

    assert_eq!(events.first(), Some(&FetchProgress::Connected));
    assert_eq!(
        events.get(1),
        Some(&FetchProgress::Listed {
            files: 3,
            bytes: total
        })
    );
    assert_eq!(events.last(), Some(&FetchProgress::Done));
    let large = &files[0];
    let chunks: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|event| match event {
            FetchProgress::File { name, done, total } if *name == large.name => {
                Some((*done, *total))
            }
            _ => None,
        })
        .collect();
    assert!(chunks.len() >= 5, "{} progress events", chunks.len());
    assert!(
        chunks.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "{chunks:?}"
    );
    assert!(chunks.iter().all(|(_, total)| *total == large.bytes));
    assert_eq!(chunks.last().map(|c| c.0), Some(large.bytes));
}

#[tokio::test]
async fn a_hashed_known_hosts_entry_is_accepted() {
    let sshd = Sshd::start();
    publish_day(&sshd);
    let client = Client::new();
    let known_hosts = client.known_hosts(&fs::read_to_string(sshd.known_hosts()).unwrap());
    let status = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&known_hosts)
        .output()
        .unwrap();
    assert!(status.status.success());
    let hashed = fs::read_to_string(&known_hosts).unwrap();
    assert!(hashed.starts_with("|1|"), "{hashed}");
    assert!(!hashed.contains("127.0.0.1"), "{hashed}");
    let config = client.config(&sshd, sshd.port(), &known_hosts, &sshd.identity());
    let (result, _) = fetch(&config, &client.reports_dir()).await;
    assert_eq!(result.unwrap().len(), 3);
}

#[tokio::test]
async fn an_unknown_host_key_is_refused_with_its_fingerprint() {
    let sshd = Sshd::start();
    publish_day(&sshd);
    let client = Client::new();
    // The same key under another port is another server: nothing is known about this one.
    let known_hosts = client.known_hosts(&sshd::known_hosts_line(
        "127.0.0.1",
        sshd.port().wrapping_add(1),
        &sshd.host_public_key(),
    ));
    let config = client.config(&sshd, sshd.port(), &known_hosts, &sshd.identity());
    let (result, events) = fetch(&config, &client.reports_dir()).await;
    let err = result.unwrap_err();
    match &err {
        SftpError::UnknownHostKey { fingerprint, .. } => {
            assert_eq!(*fingerprint, sshd.host_fingerprint());
        }
        other => panic!("{other}"),
    }
    let message = err.message(Locale::English);
    assert!(message.contains(&sshd.host_fingerprint()), "{message}");
    assert!(message.contains("Check it with Alipay"), "{message}");
    assert!(
        message.contains(&format!("ssh-keyscan -p {} ", sshd.port())),
        "{message}"
    );
    assert!(
        err.message(Locale::SimplifiedChinese)
            .contains(&sshd.host_fingerprint())
    );
    assert!(
        events.is_empty(),
        "nothing happens before the key is accepted"
    );
    assert!(names_in(&client.reports_dir()).is_empty());
    // Never trusted on first use: the file is left as it was.
    assert!(
        !fs::read_to_string(&known_hosts)
            .unwrap()
            .contains(&format!(":{}]", sshd.port()))
    );
}

#[tokio::test]
async fn a_changed_host_key_is_refused_naming_the_line() {
    let sshd = Sshd::start();
    publish_day(&sshd);
    let client = Client::new();
    let other = client.dir.path().join("other_host_key");
    sshd::keygen(&other);
    let other_key = sshd::public_key(&other.with_extension("pub"));
    let known_hosts = client.known_hosts(&format!(
        "# Alipay's SFTP server, checked by phone on 2026-11-01\n{}",
        sshd::known_hosts_line("127.0.0.1", sshd.port(), &other_key)
    ));
    let config = client.config(&sshd, sshd.port(), &known_hosts, &sshd.identity());
    let (result, _) = fetch(&config, &client.reports_dir()).await;
    let err = result.unwrap_err();
    match &err {
        SftpError::ChangedHostKey {
            fingerprint, line, ..
        } => {
            assert_eq!(*fingerprint, sshd.host_fingerprint());
            assert_eq!(*line, 2);
        }
        other => panic!("{other}"),
    }
    let message = err.message(Locale::English);
    assert!(
        message.contains(&format!("{} line 2", known_hosts.display())),
        "{message}"
    );
    assert!(names_in(&client.reports_dir()).is_empty());
}

#[tokio::test]
async fn a_wrong_identity_is_refused() {
    let sshd = Sshd::start();
    publish_day(&sshd);
    let client = Client::new();
    let stranger = client.dir.path().join("stranger_ed25519");
    sshd::keygen(&stranger);
    let config = client.config(&sshd, sshd.port(), &sshd.known_hosts(), &stranger);
    let (result, events) = fetch(&config, &client.reports_dir()).await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, SftpError::AuthRejected { username, .. } if *username == sshd.user()),
        "{err}"
    );
    assert!(err.message(Locale::English).contains("username"));
    assert!(events.is_empty(), "{events:?}");
    assert!(names_in(&client.reports_dir()).is_empty());
}

#[tokio::test]
async fn a_day_not_published_yet_says_so() {
    let sshd = Sshd::start();
    let client = Client::new();
    let config = client.for_server(&sshd);
    let (result, events) = fetch(&config, &client.reports_dir()).await;
    let err = result.unwrap_err();
    match &err {
        SftpError::NotPublished { date, folder } => {
            assert_eq!(date, DATE);
            assert!(folder.ends_with(&format!("/v1/settlements/{CUSTOMER}/{DATE}")));
        }
        other => panic!("{other}"),
    }
    assert!(err.message(Locale::English).contains("D+1"));
    assert_eq!(
        events,
        vec![FetchProgress::Connected],
        "logged in, then no folder"
    );
}

#[tokio::test]
async fn a_second_fetch_replaces_the_first_atomically_even_when_cut_off() {
    let sshd = Sshd::start();
    let folder = publish_day(&sshd);
    let client = Client::new();
    let config = client.for_server(&sshd);
    let (result, _) = fetch(&config, &client.reports_dir()).await;
    result.unwrap();
    let name = "settlementItems_USD_B20261130_000.csv";
    let first = fs::read(client.reports_dir().join(name)).unwrap();

    // Alipay republishes the file (another size): a fetch replaces the copy.
    let republished = format!("{}PAY-EXTRA,1.00\n", large_report());
    fs::write(folder.join(name), &republished).unwrap();
    let (result, _) = fetch(&config, &client.reports_dir()).await;
    let files = result.unwrap();
    assert_eq!(
        fs::read_to_string(client.reports_dir().join(name)).unwrap(),
        republished
    );
    assert_eq!(files.len(), 3);

    // Once more, through a relay that cuts the connection after 1 MB from the server:
    // the fetch fails in the middle of the large file, whose previous copy stays whole,
    // and no temp file is left behind.
    fs::write(folder.join(name), &first).unwrap();
    let relay = CuttingRelay::start(sshd.port(), 1024 * 1024).await;
    let known_hosts = client.known_hosts(&sshd::known_hosts_line(
        "127.0.0.1",
        relay.port,
        &sshd.host_public_key(),
    ));
    let through_relay = client.config(&sshd, relay.port, &known_hosts, &sshd.identity());
    let (result, events) = fetch(&through_relay, &client.reports_dir()).await;
    let err = result.unwrap_err();
    assert!(
        events
            .iter()
            .any(|event| matches!(event, FetchProgress::File { name: n, .. } if n == name)),
        "the cut came during the large file: {events:?}"
    );
    assert!(!events.contains(&FetchProgress::Done), "{err}");
    assert!(
        matches!(
            err,
            SftpError::Remote { .. } | SftpError::SizeMismatch { .. } | SftpError::Ssh { .. }
        ),
        "a broken connection, reported as such: {err}"
    );
    assert_eq!(
        fs::read_to_string(client.reports_dir().join(name)).unwrap(),
        republished,
        "the copy under the final name is the last complete one"
    );
    assert_eq!(
        names_in(&client.reports_dir()),
        [
            "settlementItems_USD_B20261130_000.csv",
            "settlementSummary_USD_B20261130_000.csv",
            "transactionItems_20261130_000.csv",
        ],
        "no partial file is left"
    );
}

/// A loopback TCP relay to sshd that closes both sides once `limit` bytes have gone from
/// the server to the client: a connection that breaks mid-transfer, with a real server.
struct CuttingRelay {
    port: u16,
}

impl CuttingRelay {
    async fn start(server_port: u16, limit: usize) -> CuttingRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)).await else {
                return;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let upstream = tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            });
            let mut sent = 0;
            let mut buffer = vec![0u8; 16 * 1024];
            while sent < limit {
                let Ok(read) = server_read.read(&mut buffer).await else {
                    break;
                };
                if read == 0 {
                    break;
                }
                let take = read.min(limit - sent);
                if client_write.write_all(&buffer[..take]).await.is_err() {
                    break;
                }
                sent += take;
            }
            upstream.abort();
            // Dropping both halves closes the connection on both sides.
        });
        CuttingRelay { port }
    }
}

#[tokio::test]
async fn rsa_and_passphrase_identities_are_refused_with_the_fix() {
    let sshd = Sshd::start();
    publish_day(&sshd);
    let client = Client::new();
    let rsa = client.dir.path().join("id_rsa");
    let locked = client.dir.path().join("id_locked");
    for (path, args) in [
        (&rsa, &["-t", "rsa", "-b", "2048", "-N", ""][..]),
        (&locked, &["-t", "ed25519", "-N", "a passphrase"][..]),
    ] {
        let status = Command::new("ssh-keygen")
            .arg("-q")
            .args(args)
            .arg("-f")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }
    for (identity, needle) in [(&rsa, "ssh-keygen -t ed25519"), (&locked, "ssh-keygen -p")] {
        let config = client.config(&sshd, sshd.port(), &sshd.known_hosts(), identity);
        let (result, events) = fetch(&config, &client.reports_dir()).await;
        let err = result.unwrap_err();
        assert!(
            matches!(
                &err,
                SftpError::Credential {
                    key: "reconciliation.identity_file",
                    ..
                }
            ),
            "{err}"
        );
        let message = err.message(Locale::English);
        assert!(message.contains(needle), "{message}");
        assert!(events.is_empty(), "{events:?}");
    }
}
