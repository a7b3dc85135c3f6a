//! A real PostgreSQL for the tests, started by them as they start sshd: Debian's `postgresql`
//! (`initdb`, `pg_ctl`; .ci/run installs it) in a temporary folder, listening on 127.0.0.1 at
//! a free port, stopped when dropped. PostgreSQL refuses to run as root: as root, it runs as the
//! package's `postgres` user.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct TempPostgres {
    /// Kept for as long as the server runs: its data and socket folder.
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
    /// Started here, and stopped when dropped; `false` for one another process started
    /// ([`TempPostgres::at`]).
    owned: bool,
    /// Its certificate and key, with TLS on ([`TempPostgres::start_with_tls`]).
    tls: Option<(PathBuf, PathBuf)>,
}

/// Where Debian puts the server's programs (not on PATH).
fn bin_dir() -> Option<PathBuf> {
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    let mut dirs: Vec<PathBuf> =
        versions.flatten().map(|e| e.path().join("bin")).filter(|d| d.join("initdb").is_file()).collect();
    dirs.sort();
    dirs.pop()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl TempPostgres {
    /// The server, or `None` (skip) when PostgreSQL is not installed outside CI; in CI a missing
    /// PostgreSQL fails.
    pub fn start() -> Option<TempPostgres> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must provide PostgreSQL (apt-get install postgresql): no /usr/lib/postgresql/*/bin/initdb"
            );
            eprintln!("SKIPPED: PostgreSQL is not installed (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("bw-postgres").tempdir().unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let chown = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(chown.success(), "chown the folder to postgres");
        }
        let pg = TempPostgres { dir, bin, port: crate::ssh::free_port(), as_postgres, owned: true, tls: None };
        let data = pg.data();
        let out = pg.run("initdb", &["-D", &data, "-U", "bw", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        pg.start_again();
        Some(pg)
    }

    /// The server another process of the test run started at `port` (the suite run again on
    /// PostgreSQL): schemas are made in it, and it is left running when this is dropped.
    pub fn at(port: u16) -> TempPostgres {
        let bin = bin_dir().expect("PostgreSQL's programs");
        let dir = tempfile::tempdir().unwrap();
        TempPostgres { dir, bin, port, as_postgres: false, owned: false, tls: None }
    }

    /// A server with TLS on: a certificate for 127.0.0.1 signed by a CA made here, whose PEM
    /// file is returned (what a managed service hands out).
    pub fn start_with_tls() -> Option<(TempPostgres, PathBuf)> {
        let mut pg = Self::start()?;
        pg.stop();
        let dir = pg.dir.path().join("tls");
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(&dir).output().expect("openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bw test CA"],
            ]
            .concat(),
        );
        openssl(
            &[&["req"], &ec[..], &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        if pg.as_postgres {
            let chown = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap();
            assert!(chown.success());
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        pg.tls = Some((dir.join("server.pem"), dir.join("server.key")));
        pg.start_again();
        Some((pg, dir.join("ca.pem")))
    }

    /// Starts the server (again, after [`TempPostgres::stop`]), on the same port and data.
    pub fn start_again(&self) {
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        if let Some((cert, key)) = &self.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert.display(),
                key.display()
            ));
        }
        let log = self.dir.path().join("postgres.log").display().to_string();
        let out = self.run("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "-t", "60", "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Runs one SQL statement in the database `postgres`, as its owner.
    pub fn sql(&self, statement: &str) {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "bw",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
            ])
            .arg(statement)
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {statement}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The answer of one SQL query in the database `postgres` (unaligned, without headers), over
    /// a plain connection.
    pub fn query(&self, statement: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .env("PGSSLMODE", "disable")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "bw", "-d", "postgres", "-tA", "-c"])
            .arg(statement)
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {statement}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // The folder, not the caller's, is where the programs start (postgres cannot read root's).
        cmd.args(args).current_dir(self.dir.path()).output().unwrap()
    }

    /// The address of the database `name` (`postgres` is there from the start).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://bw@127.0.0.1:{}/{database}", self.port)
    }

    /// The address of a new, empty schema of the database `postgres`, for one backend: the
    /// conformance suite asks for many.
    pub fn fresh_schema_url(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!("s{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        self.sql(&format!("CREATE SCHEMA {schema}"));
        format!("{}?options=-c%20search_path%3D{schema}", self.url("postgres"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server (fast: sessions are ended), as a database going away does.
    pub fn stop(&self) {
        let out = self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let _ = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }
}
