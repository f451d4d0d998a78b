//! A throw-away PostgreSQL 15 cluster per test, from Debian's `postgresql` package: `initdb`
//! in a temp folder, `pg_ctl` on a free loopback port with its socket in that folder,
//! stopped (`pg_ctl stop -m fast`) and removed on drop. Nothing of the package's own main
//! cluster is used.
//!
//! `initdb` refuses to run as root, so as root (CI, this machine) every server command runs
//! as the `postgres` system user the package creates, with the folder owned by it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where Debian's `postgresql-15` puts the server binaries.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// How long a cluster may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(60);

pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    as_postgres_user: bool,
    databases: AtomicU32,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "there is no `postgres` system user; install PostgreSQL with `apt-get install -y postgresql`"
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    /// Initialises and starts a new cluster; returns once it accepts connections.
    pub async fn start() -> Postgres {
        let bin = Path::new(PG_BIN);
        assert!(
            bin.join("initdb").is_file() && bin.join("pg_ctl").is_file(),
            "PostgreSQL 15 is not installed ({PG_BIN}/initdb is missing); install it with \
             `apt-get install -y postgresql`"
        );
        let dir = tempfile::Builder::new()
            .prefix("alipay-pos-pg")
            .tempdir()
            .unwrap();
        let as_postgres_user = is_root();
        if as_postgres_user {
            std::os::unix::fs::chown(dir.path(), Some(id_of("-u")), Some(id_of("-g"))).unwrap();
        }
        let cluster = Postgres {
            dir,
            port: free_port(),
            as_postgres_user,
            databases: AtomicU32::new(0),
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        cluster.start_again().await;
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = Path::new(PG_BIN).join(program);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self.command(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the (stopped) cluster again, on the same port; returns once it accepts
    /// connections. Fault tests restart PostgreSQL under a running hub with it.
    pub async fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=on",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data_dir().to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-W",
                "start",
            ],
        );
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if self.connect("postgres").await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not accept connections within {READY_WITHIN:?}; its log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the cluster (`pg_ctl stop -m fast`, waiting until it is down).
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data_dir().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// The URL of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A connection to database `name` (the caller's task drives it).
    pub async fn connect(
        &self,
        name: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) =
            tokio_postgres::connect(&self.url(name), tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// A new, empty database; returns its URL.
    pub async fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("test{n}");
        let admin = self.connect("postgres").await.unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        self.url(&name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Already stopped is fine; the folder goes with `dir`.
        let _ = self
            .command("pg_ctl")
            .args([
                "-D",
                self.data_dir().to_str().unwrap_or(""),
                "-m",
                "fast",
                "-w",
                "stop",
            ])
            .output();
    }
}
