//! A real OpenSSH server for the SFTP tests: Debian's `/usr/sbin/sshd` (package
//! `openssh-server`, installed by `.ci/run`), started on a free loopback port with its own
//! config, a throw-away Ed25519 host key and a client key pair, all made by `ssh-keygen` in
//! a temp folder, serving the sftp subsystem (`internal-sftp`) as the current user. Stopped
//! (killed) on drop.
//!
//! Only public-key login is on: password login needs PAM or a system user with a known
//! password, and a test must not create system users.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Where Debian installs the server.
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long sshd may take to start listening.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// A running sshd and the files a client needs to talk to it.
pub struct Sshd {
    dir: TempDir,
    child: Child,
    port: u16,
    /// What sshd wrote to stderr (`-e`), for failure messages.
    log: Arc<Mutex<String>>,
}

impl Sshd {
    /// Starts sshd, or panics saying what is missing (CI must have `openssh-server`).
    pub fn start() -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install Debian's openssh-server (`apt-get install \
             openssh-server`; .ci/run does) to run the SFTP tests"
        );
        let dir = tempfile::Builder::new()
            .prefix("alipay-pos-sshd-")
            .tempdir()
            .unwrap();
        keygen(&dir.path().join("host_ed25519"));
        keygen(&dir.path().join("client_ed25519"));
        fs::copy(
            dir.path().join("client_ed25519.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        // As root, sshd's privilege separation needs its empty folder.
        if is_root() {
            fs::create_dir_all("/run/sshd").unwrap();
        }
        // A port picked free can be taken before sshd binds it: try a few.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let port = free_port();
            match Sshd::spawn(&dir, port) {
                Ok((child, log)) => {
                    let sshd = Sshd {
                        dir,
                        child,
                        port,
                        log,
                    };
                    sshd.write_known_hosts();
                    return sshd;
                }
                Err(failure) => last_failure = failure,
            }
        }
        panic!("sshd did not start: {last_failure}");
    }

    fn spawn(dir: &TempDir, port: u16) -> Result<(Child, Arc<Mutex<String>>), String> {
        let config = dir.path().join("sshd_config");
        let path = |name: &str| dir.path().join(name).display().to_string();
        fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 Port {port}\n\
                 HostKey {host_key}\n\
                 AuthorizedKeysFile {authorized}\n\
                 PidFile {pid}\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 Subsystem sftp internal-sftp\n\
                 LogLevel VERBOSE\n",
                host_key = path("host_ed25519"),
                authorized = path("authorized_keys"),
                pid = path("sshd.pid"),
            ),
        )
        .unwrap();
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot run {SSHD}: {err}"))?;
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let deadline = Instant::now() + START_DEADLINE;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("sshd exited ({status}): {}", log.lock().unwrap()));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok((child, log));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "not listening on {address} after {START_DEADLINE:?}: {}",
                    log.lock().unwrap()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `known_hosts` with this server's host key under `[127.0.0.1]:<port>`.
    fn write_known_hosts(&self) {
        let line = known_hosts_line("127.0.0.1", self.port, &self.host_public_key());
        fs::write(self.known_hosts(), line).unwrap();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder the tests serve (sshd serves the whole file system, unchrooted, so a
    /// client names it as its `remote_root`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A `known_hosts` file that lists this server's key.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// The client's private key (authorized on this server), owner-only as ssh-keygen
    /// writes it.
    pub fn identity(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }

    /// `ssh-ed25519 AAAA...` of the server's host key.
    pub fn host_public_key(&self) -> String {
        public_key(&self.dir.path().join("host_ed25519.pub"))
    }

    /// The server's host key fingerprint as `ssh-keygen -l` prints it (`SHA256:...`).
    pub fn host_fingerprint(&self) -> String {
        fingerprint(&self.dir.path().join("host_ed25519.pub"))
    }

    /// The name a client logs in as: the user running the tests (sshd runs as them).
    pub fn user(&self) -> String {
        let output = Command::new("id").arg("-un").output().unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// Everything sshd logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes an Ed25519 key pair without a passphrase at `path` and `path.pub`.
pub fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "alipay-pos-test",
            "-f",
        ])
        .arg(path)
        .status()
        .expect("ssh-keygen (package openssh-client) must be installed");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

/// `type base64` of a `.pub` file, without its comment.
pub fn public_key(pub_file: &Path) -> String {
    let text = fs::read_to_string(pub_file).unwrap();
    let mut fields = text.split_whitespace();
    format!("{} {}", fields.next().unwrap(), fields.next().unwrap())
}

/// `ssh-keygen -lf`'s SHA256 fingerprint of a `.pub` file.
pub fn fingerprint(pub_file: &Path) -> String {
    let output = Command::new("ssh-keygen")
        .args(["-E", "sha256", "-l", "-f"])
        .arg(pub_file)
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    text.split_whitespace().nth(1).unwrap().to_owned()
}

/// A `known_hosts` line as `ssh-keyscan` writes it.
pub fn known_hosts_line(host: &str, port: u16, key: &str) -> String {
    format!("[{host}]:{port} {key}\n")
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| output.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}
