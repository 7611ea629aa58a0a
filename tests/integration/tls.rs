//! TLS against a throwaway cluster that accepts only TLS on TCP (`ssl=on`, pg_hba `hostssl` only): loads with
//! `sslmode=require`, `verify-full` with the test's CA and a client certificate, clear configuration errors
//! (exit code 2) for a host name mismatch, an untrusted certificate, plaintext refused and a server without TLS.
//!
//! The cluster is started here with the server binaries ele's local clusters use, not through `LocalCluster`
//! (which listens on a Unix socket only): [`TlsCluster`] runs initdb and `pg_ctl start` in a temp dir (as the
//! `postgres` OS user when the tests run as root) and stops the server when dropped. The certificates (a CA, a
//! server certificate for `localhost`, a client certificate for user `postgres`) are generated with rcgen.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ele::destination::Destination;
use ele::prelude::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// The database whose pg_hba line demands a client certificate (`clientcert=verify-full`).
const CERT_DB: &str = "certdb";
/// The database the other tests load into.
const DB: &str = "tlsdb";

/// Generated PEM files in a directory.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    fn other_ca(&self) -> PathBuf {
        self.dir.join("other-ca.crt")
    }
    fn client_cert(&self) -> PathBuf {
        self.dir.join("client.crt")
    }
    fn client_key(&self) -> PathBuf {
        self.dir.join("client.key")
    }

    /// A CA, a server certificate for `localhost` signed by it, a client certificate for `postgres`, and an
    /// unrelated CA.
    fn generate(dir: &Path) -> Certs {
        let ca_key = KeyPair::generate().expect("key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "ele test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("CA");
        let issuer = Issuer::new(ca, &ca_key);

        let server_key = KeyPair::generate().expect("key");
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_cert = server.signed_by(&server_key, &issuer).expect("server");

        let client_key = KeyPair::generate().expect("key");
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("params");
        client
            .distinguished_name
            .push(DnType::CommonName, "postgres");
        let client_cert = client.signed_by(&client_key, &issuer).expect("client");

        let other_key = KeyPair::generate().expect("key");
        let mut other = CertificateParams::new(Vec::<String>::new()).expect("params");
        other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        other
            .distinguished_name
            .push(DnType::CommonName, "another CA");
        let other_cert = other.self_signed(&other_key).expect("CA");

        for (name, text) in [
            ("ca.crt", ca_cert.pem()),
            ("server.crt", server_cert.pem()),
            ("server.key", server_key.serialize_pem()),
            ("client.crt", client_cert.pem()),
            ("client.key", client_key.serialize_pem()),
            ("other-ca.crt", other_cert.pem()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write a certificate");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        Certs {
            dir: dir.to_owned(),
        }
    }
}

/// The server binaries: `initdb` on PATH, else the newest `/usr/lib/postgresql/*/bin`.
fn server_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return dir;
            }
        }
    }
    let mut found: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("the PostgreSQL server binaries are installed (/usr/lib/postgresql)")
        .flatten()
        .filter_map(|e| {
            let version = e
                .file_name()
                .to_str()?
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().expect("PostgreSQL server binaries").1
}

/// A throwaway cluster listening on 127.0.0.1 with `ssl=on`, pg_hba `hostssl` only on TCP (plus `local` trust
/// for the test's own checks); stopped when dropped.
struct TlsCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    ids: Option<(u32, u32)>,
    port: u16,
    certs: Certs,
}

impl TlsCluster {
    fn start() -> TlsCluster {
        let dir = tempfile::Builder::new()
            .prefix("ele-tls-")
            .tempdir()
            .expect("tempdir");
        let root = dir.path();
        let certs = Certs::generate(root);
        let ids = crate::support::service_user_ids();
        let bin = server_bin();
        let hba = format!(
            "local all all trust\n\
             hostssl {CERT_DB} all 127.0.0.1/32 trust clientcert=verify-full\n\
             hostssl {CERT_DB} all ::1/128 trust clientcert=verify-full\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostssl all all ::1/128 trust\n"
        );
        std::fs::write(root.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
        if let Some((uid, gid)) = ids {
            for entry in std::fs::read_dir(root).expect("read dir").flatten() {
                std::os::unix::fs::chown(entry.path(), Some(uid), Some(gid)).expect("chown");
            }
            std::os::unix::fs::chown(root, Some(uid), Some(gid)).expect("chown");
        }
        let mut cluster = TlsCluster {
            dir,
            bin,
            ids,
            port: 0,
            certs,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        cluster.port = TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("addr")
            .port();
        let root = cluster.dir.path();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories='{}' -c ssl=on \
             -c ssl_cert_file='{}' -c ssl_key_file='{}' -c ssl_ca_file='{}' -c hba_file='{}' -c fsync=off",
            cluster.port,
            root.display(),
            root.join("server.crt").display(),
            root.join("server.key").display(),
            root.join("ca.crt").display(),
            root.join("pg_hba.conf").display(),
        );
        let log = root.join("server.log");
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs a server tool as the server's OS user; panics with its output when it fails.
    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let mut command = Command::new(self.bin.join(tool));
        command.args(args).current_dir(self.dir.path());
        if let Some((uid, gid)) = self.ids {
            command.uid(uid).gid(gid).env("HOME", self.dir.path());
        }
        let out = command.output().expect("the server tool runs");
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs SQL in database `postgres` over the Unix socket; returns the rows' first values, one a line.
    async fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql).await
    }

    /// Like [`psql`](Self::psql) in database `db`.
    async fn psql_in(&self, db: &str, sql: &str) -> String {
        let (client, connection) = tokio_postgres::connect(
            &format!(
                "host={} port={} user=postgres dbname={db}",
                self.dir.path().display(),
                self.port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .expect("connects over the Unix socket");
        tokio::spawn(connection);
        let mut lines = Vec::new();
        for message in client.simple_query(sql).await.expect("query runs") {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                lines.push(row.get(0).unwrap_or("NULL").to_owned());
            }
        }
        lines.join("\n")
    }

    /// A URL to `db` on `host` with extra query parameters.
    fn url(&self, host: &str, db: &str, params: &str) -> String {
        format!("postgresql://postgres@{host}:{}/{db}?{params}", self.port)
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let data = self.data();
        let mut command = Command::new(self.bin.join("pg_ctl"));
        command.args(["-D", path_str(&data), "-m", "immediate", "-w", "stop"]);
        if let Some((uid, gid)) = self.ids {
            command.uid(uid).gid(gid);
        }
        let _ = command.output();
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// `ele load` of two rows into table `items` of `destination`, with `HOME` in `home` (no `~/.postgresql`).
fn ele_load(destination: &str, home: &Path, pipeline: &str) -> Output {
    let file = home.join("items.jsonl");
    std::fs::write(&file, "{\"id\": 1}\n{\"id\": 2}\n").expect("write");
    Command::new(env!("CARGO_BIN_EXE_ele"))
        .args([
            "load",
            path_str(&file),
            "--table",
            "items",
            "--pipeline",
            pipeline,
        ])
        .args(["--destination", destination])
        .env("HOME", home)
        .env("ELE_PIPELINES_DIR", home.join("pipelines"))
        .env_remove("DESTINATION__POSTGRES__CREDENTIALS")
        .output()
        .expect("the ele binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_loads_with_require_verify_full_and_a_client_certificate() {
    let cluster = TlsCluster::start();
    for db in [DB, CERT_DB] {
        cluster.psql(&format!("CREATE DATABASE {db}")).await;
    }
    let home = tempfile::tempdir().expect("tempdir");

    // require: encrypted, certificate not checked.
    let out = ele_load(
        &cluster.url("localhost", DB, "sslmode=require"),
        home.path(),
        "req",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        cluster
            .psql_in(DB, "SELECT count(*) FROM req_dataset.items")
            .await,
        "2"
    );

    // verify-full with the CA, in key=value form.
    let kv = format!(
        "host=localhost port={} user=postgres dbname={DB} sslmode=verify-full sslrootcert='{}'",
        cluster.port,
        cluster.certs.ca().display()
    );
    let out = ele_load(&kv, home.path(), "full");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        cluster
            .psql_in(DB, "SELECT count(*) FROM full_dataset.items")
            .await,
        "2"
    );

    // A client certificate where pg_hba says clientcert=verify-full.
    let url = cluster.url(
        "localhost",
        CERT_DB,
        &format!(
            "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
            cluster.certs.ca().display(),
            cluster.certs.client_cert().display(),
            cluster.certs.client_key().display()
        ),
    );
    let out = ele_load(&url, home.path(), "cert");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        cluster
            .psql_in(CERT_DB, "SELECT count(*) FROM cert_dataset.items")
            .await,
        "2"
    );
    // Without it the server refuses, and that is a configuration error.
    let without = cluster.url(
        "localhost",
        CERT_DB,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            cluster.certs.ca().display()
        ),
    );
    let out = ele_load(&without, home.path(), "nocert");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the server requires a client certificate"),
        "{}",
        stderr(&out)
    );

    // In process: the pipeline's connections are named `ele <version> <pipeline>` in pg_stat_activity, and
    // the verified TLS connection is encrypted (pg_stat_ssl).
    let pg = Postgres::new(&cluster.url(
        "localhost",
        DB,
        &format!(
            "sslmode=verify-full&sslrootcert={}&connect_timeout=5&options=-c%20statement_timeout%3D60s",
            cluster.certs.ca().display()
        ),
    ))
    .expect("valid");
    let mut pg = pg;
    pg.attach_pipeline("orders_sync");
    let lock = pg
        .lock_pipeline(
            "orders_dataset",
            "orders_sync",
            std::time::Duration::from_secs(5),
        )
        .await
        .expect("locks over TLS");
    let seen = cluster.psql(
        "SELECT a.application_name || '|' || s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.application_name LIKE 'ele %'",
    ).await;
    assert_eq!(
        seen,
        format!("ele {} orders_sync|true", env!("CARGO_PKG_VERSION"))
    );
    drop(lock);

    // A user's application_name wins, and several hosts are tried in order (the first one refuses).
    let closed = TcpListener::bind("127.0.0.1:0").expect("port");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut pg = Postgres::new(&format!(
        "postgresql://postgres@127.0.0.1:{closed_port},localhost:{}/{DB}?sslmode=require&application_name=nightly\
         &target_session_attrs=read-write",
        cluster.port
    ))
    .expect("valid");
    pg.attach_pipeline("orders_sync");
    let lock = pg
        .lock_pipeline(
            "orders_dataset",
            "orders_sync",
            std::time::Duration::from_secs(5),
        )
        .await
        .expect("the second host answers");
    assert_eq!(
        cluster
            .psql(
                "SELECT application_name FROM pg_stat_activity WHERE application_name = 'nightly'"
            )
            .await,
        "nightly"
    );
    drop(lock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failures_are_configuration_errors_that_say_which() {
    let cluster = TlsCluster::start();
    for db in [DB, CERT_DB] {
        cluster.psql(&format!("CREATE DATABASE {db}")).await;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let ca = cluster.certs.ca();
    let location = |host: &str| {
        format!(
            "cannot connect to postgresql://postgres@{host}:{}/{DB}",
            cluster.port
        )
    };

    // verify-full against a host name the certificate does not name (127.0.0.1).
    let out = ele_load(
        &cluster.url(
            "127.0.0.1",
            DB,
            &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
        ),
        home.path(),
        "mismatch",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "error: configuration error: {}: host name mismatch: the server certificate is for `localhost`, not \
             for the host `127.0.0.1` (sslmode=verify-full checks the host name); connect with a host name the \
             certificate names, or use sslmode=verify-ca to check only the certificate chain",
            location("127.0.0.1")
        )
    );
    // verify-ca checks the chain only: the same host loads.
    let out = ele_load(
        &cluster.url(
            "127.0.0.1",
            DB,
            &format!("sslmode=verify-ca&sslrootcert={}", ca.display()),
        ),
        home.path(),
        "ca",
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // A CA that did not sign the server certificate.
    let out = ele_load(
        &cluster.url(
            "localhost",
            DB,
            &format!(
                "sslmode=verify-full&sslrootcert={}",
                cluster.certs.other_ca().display()
            ),
        ),
        home.path(),
        "untrusted",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "error: configuration error: {}: the server certificate is not trusted (it is not signed by a trusted \
             CA): sslmode=verify-full checks it against sslrootcert=\"{}\"; give the CA that signed the server \
             certificate with sslrootcert=/path/to/ca.crt",
            location("localhost"),
            cluster.certs.other_ca().display()
        )
    );

    // verify-ca checks the chain, and so does require when roots are given (libpq's rule): both refuse it.
    for mode in ["verify-ca", "require"] {
        let out = ele_load(
            &cluster.url(
                "localhost",
                DB,
                &format!(
                    "sslmode={mode}&sslrootcert={}",
                    cluster.certs.other_ca().display()
                ),
            ),
            home.path(),
            "untrusted",
        );
        assert_eq!(out.status.code(), Some(2), "{mode}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "{}: the server certificate is not trusted (it is not signed by a trusted CA): sslmode={mode} \
                 checks it against sslrootcert=\"{}\"",
                location("localhost"),
                cluster.certs.other_ca().display()
            )),
            "{mode}: {}",
            stderr(&out)
        );
    }

    // verify-full without sslrootcert and without ~/.postgresql/root.crt: libpq's rule, said.
    let out = ele_load(
        &cluster.url("localhost", DB, "sslmode=verify-full"),
        home.path(),
        "noroot",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "{}: root certificate file \"{}\" does not exist; sslmode=verify-full needs the CA",
            location("localhost"),
            home.path().join(".postgresql/root.crt").display()
        )),
        "{}",
        stderr(&out)
    );

    // disable against a server that accepts only TLS.
    let out = ele_load(
        &cluster.url("localhost", DB, "sslmode=disable"),
        home.path(),
        "plain",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.starts_with(&format!(
            "error: configuration error: {}: the server requires TLS for this connection (no pg_hba.conf entry \
             for host \"127.0.0.1\", user \"postgres\", database \"{DB}\", no encryption), and sslmode=disable \
             does not use it; use sslmode=require, or verify-full with the server's CA in sslrootcert",
            location("localhost")
        )),
        "{text}"
    );
    // allow tries plaintext, then TLS when the server refuses it; prefer (the default) uses TLS.
    for (mode, pipeline) in [("sslmode=allow", "allow"), ("connect_timeout=5", "prefer")] {
        let out = ele_load(&cluster.url("localhost", DB, mode), home.path(), pipeline);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
    }

    // require against a server without TLS: a stand-in that answers the SSLRequest with `N`.
    let plain = TcpListener::bind("127.0.0.1:0").expect("port");
    let plain_port = plain.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _): (TcpStream, _) = plain.accept().expect("accept");
        let mut request = [0u8; 8];
        stream.read_exact(&mut request).expect("SSLRequest");
        stream.write_all(b"N").expect("answer");
    });
    let out = ele_load(
        &format!("postgresql://postgres@127.0.0.1:{plain_port}/{DB}?sslmode=require"),
        home.path(),
        "notls",
    );
    server.join().expect("stand-in server");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "error: configuration error: cannot connect to postgresql://postgres@127.0.0.1:{plain_port}/{DB}: the \
             server does not support TLS, and sslmode=require requires it; enable ssl on the server, or use \
             sslmode=prefer to fall back to an unencrypted connection"
        )
    );

    // An unknown option is a configuration error that shows no value.
    let out = ele_load(
        "postgresql://postgres:s3cret@localhost/db?sslmode=require&sslpasswd=s3cret",
        home.path(),
        "unknown",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown connection option `sslpasswd`"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
}
