//! A real PostgreSQL of the test's own: a throwaway cluster in a temp
//! folder, on a free loopback port, stopped when the test ends.
//!
//! Debian's server binaries (`/usr/lib/postgresql/<version>/bin`, from the
//! `postgresql` package that `scripts/setup.sh` installs). The server
//! refuses to run as root, so under root (CI) the cluster belongs to the
//! `postgres` user and its commands run through `runuser`. Its socket is
//! in the cluster's own folder: the default one is not the test's to use.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use countersign::branch::{schema, DeskName};

/// The administrator role the cluster is made with (trusted on loopback,
/// as a test cluster may be).
pub const ADMIN: &str = "countersign_admin";

pub struct TestCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl TestCluster {
    /// A new cluster, started, with no Countersign schema yet.
    pub fn start() -> Self {
        let bin = server_binaries();
        let dir = tempfile::Builder::new()
            .prefix("countersign-pg-")
            .tempdir()
            .expect("a temp folder for the cluster");
        let as_postgres = is_root();
        if as_postgres {
            let (uid, gid) = postgres_ids();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("the cluster folder handed to the postgres user");
        }
        let cluster = Self {
            port: free_port(),
            dir,
            bin,
            as_postgres,
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                ADMIN,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        cluster.pg_ctl_start();
        cluster
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-k {} -c listen_addresses=127.0.0.1 -p {} -c fsync=off -c max_connections=200",
            self.dir.path().display(),
            self.port
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server at once, as a crash or a pulled cable would.
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        self.pg_ctl_start();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url_for(&self, role: &str) -> String {
        format!("postgres://{role}@127.0.0.1:{}/postgres", self.port)
    }

    pub fn admin_url(&self) -> String {
        self.url_for(ADMIN)
    }

    /// Applies the schema and creates a role for each desk.
    pub fn prepare(&self, desks: &[&str]) {
        let url = self.admin_url();
        let desks: Vec<DeskName> = desks
            .iter()
            .map(|d| DeskName::parse(d).expect("a desk role name"))
            .collect();
        runtime().block_on(async move {
            let mut admin = connect(&url).await;
            schema::migrate(&mut admin)
                .await
                .expect("the schema applies");
            for desk in &desks {
                schema::add_desk(&admin, desk, None)
                    .await
                    .expect("the desk role is made");
            }
        });
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let path = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{tool} could not be run: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let data = self.data_dir();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&path)
                .args(args)
                .output()
        } else {
            Command::new(&path).args(args).output()
        };
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A plain connection, for what the test does as IT or as a desk user.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The newest server installed: missing is an error, never a skip.
fn server_binaries() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .max();
    let Some(version) = newest else {
        panic!("no PostgreSQL server under {root:?}: run scripts/setup.sh (Debian's postgresql package)");
    };
    root.join(version.to_string()).join("bin")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn postgres_ids() -> (u32, u32) {
    let out = Command::new("id")
        .args(["-u", "postgres"])
        .output()
        .expect("id runs");
    let uid = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the postgres user exists (Debian's postgresql package)");
    let out = Command::new("id")
        .args(["-g", "postgres"])
        .output()
        .expect("id runs");
    let gid = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the postgres group");
    (uid, gid)
}

/// PgBouncer in transaction mode in front of a [`TestCluster`], with a
/// pool smaller than the desks, so server connections really change hands
/// between transactions: what named statements or session state would not
/// survive. Debian's `pgbouncer` (1.18: no prepared statements across
/// transactions), run as `postgres` under root, as the server is.
pub struct Bouncer {
    dir: tempfile::TempDir,
    port: u16,
}

impl Bouncer {
    pub fn start(cluster: &TestCluster, roles: &[&str], pool_size: u32) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("countersign-pgbouncer-")
            .tempdir()
            .expect("a temp folder for PgBouncer");
        let port = free_port();
        let users: String = roles.iter().map(|r| format!("\"{r}\" \"\"\n")).collect();
        std::fs::write(dir.path().join("users.txt"), users).expect("users file");
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("pgbouncer.ini"),
            format!(
                "[databases]\npostgres = host=127.0.0.1 port={} dbname=postgres\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {d}/users.txt\npool_mode = transaction\n\
                 default_pool_size = {pool_size}\nmax_client_conn = 500\n\
                 logfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n",
                cluster.port()
            ),
        )
        .expect("PgBouncer's configuration");
        let as_postgres = is_root();
        if as_postgres {
            let (uid, gid) = postgres_ids();
            for entry in ["", "users.txt", "pgbouncer.ini"] {
                std::os::unix::fs::chown(dir.path().join(entry), Some(uid), Some(gid))
                    .expect("PgBouncer's files handed to the postgres user");
            }
        }
        let ini = dir.path().join("pgbouncer.ini");
        let mut command = if as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "pgbouncer"]);
            c
        } else {
            Command::new("pgbouncer")
        };
        let out = command
            .arg("-d")
            .arg(&ini)
            .output()
            .expect("pgbouncer could not be run: scripts/setup.sh installs Debian's pgbouncer");
        assert!(
            out.status.success(),
            "pgbouncer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Daemonised: ready once it accepts connections.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { dir, port };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "pgbouncer never listened: {}",
            std::fs::read_to_string(dir.path().join("pgbouncer.log")).unwrap_or_default()
        );
    }

    pub fn url_for(&self, role: &str) -> String {
        format!("postgres://{role}@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("pgbouncer.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill has no memory preconditions; a stale pid at
                // worst signals nothing of ours.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
    }
}

/// A desk's IT policy for the branch on `cluster` as `desk`: the branch
/// and audit keys (written beside it) and every shared limit locked, with
/// `max_attempts` and `failures_per_hour` as given. Returns its path.
pub fn branch_policy(
    dir: &Path,
    cluster: &TestCluster,
    desk: &str,
    max_attempts: u32,
    failures_per_hour: u32,
) -> PathBuf {
    let branch_key = dir.join("branch.key");
    std::fs::write(&branch_key, format!("{}\n", "42".repeat(32))).expect("branch key file");
    let audit_key = dir.join("audit.key");
    std::fs::write(&audit_key, format!("{}\n", "17".repeat(32))).expect("audit key file");
    let path = dir.join(format!("{desk}.toml"));
    std::fs::write(
        &path,
        format!(
            "[locked]\nbranch_store = \"{}\"\nbranch_key_file = \"{}\"\naudit_key_file = \"{}\"\n\
             max_attempts = {max_attempts}\nnumber_failures_per_hour = {failures_per_hour}\n\
             resend_cooldown_seconds = 30\nsends_per_window = 5\nsend_window_minutes = 10\n\
             default_country = \"GB\"\nallowed_countries = [\"GB\"]\n",
            cluster.url_for(desk),
            branch_key.display(),
            audit_key.display()
        ),
    )
    .expect("policy file");
    path
}
