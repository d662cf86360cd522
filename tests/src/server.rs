//! A `sluice serve` process for end-to-end tests that stop it any way they like (SIGKILL
//! included), and a small HTTP/1.1 client that reports a dead server as an error instead of
//! panicking.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::sluice_bin;

/// The API token the test servers accept.
pub const TOKEN: &str = "test-token-0123456789";

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> SocketAddr {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr,
        Err(e) => panic!("no free port on 127.0.0.1: {e}"),
    }
}

/// An HTTP answer: the status, the headers (names in lower case) and the de-chunked body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    /// The last value of each header.
    pub headers: HashMap<String, String>,
    /// Every `Set-Cookie` value, in order (a header that may come more than once).
    pub set_cookies: Vec<String>,
    pub body: String,
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`) with these request headers
/// (`Host`, `Connection` and `Content-Length` are added). The body is written from another thread,
/// so a server that answers before reading it all (413) is still heard. Any IO failure before an
/// answer arrived (refused, reset, timed out) is an error.
pub fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Answer> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(40)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes())?;
    let mut writer = stream.try_clone()?;
    let body = body.to_vec();
    let writing = std::thread::spawn(move || {
        let _ = writer.write_all(&body);
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let read = loop {
        match stream.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A signal to this process (a child that exited) interrupted the read: read on.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A reset after the answer arrived (the server closed with our body unread).
            Err(_) if !raw.is_empty() => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = writing.join();
    read?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let Some((head, rest)) = text.split_once("\r\n\r\n") else {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("no complete answer to {method} {path}")));
    };
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let fields: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let set_cookies = fields.iter().filter(|(k, _)| k == "set-cookie").map(|(_, v)| v.clone()).collect();
    let headers: HashMap<String, String> = fields.into_iter().collect();
    let chunked = headers.get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_string() };
    Ok(Answer { status, headers, set_cookies, body })
}

/// [`exchange`] in a test that needs an answer: no answer fails the test.
pub fn must_exchange(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    exchange(addr, method, path, headers, body).unwrap_or_else(|e| panic!("no answer to {method} {path}: {e}"))
}

impl Answer {
    /// The body as JSON, or as a JSON string when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| serde_json::Value::String(self.body.clone()))
    }

    /// A header's value (`name` in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// [`exchange`] with an optional `Authorization` value and `Content-Type`: the status and body.
pub fn http(
    addr: SocketAddr,
    auth: Option<&str>,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> io::Result<(u16, String)> {
    let mut headers = Vec::new();
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    if let Some(ct) = content_type {
        headers.push(("Content-Type", ct));
    }
    exchange(addr, method, path, &headers, body).map(|a| (a.status, a.body))
}

/// Reads one HTTP request from `stream`, as a stub server in a test does: the head (request line
/// and headers) once it and as much body as `Content-Length` says have arrived; `None` if the
/// connection ends or fails first.
pub fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let Some(end) = text.find("\r\n\r\n") else { continue };
        let head = &text[..end];
        let len = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            return Some(head.to_string());
        }
    }
}

/// Answers `200 OK` with this JSON body and `Connection: close` (errors ignored: the caller may
/// be gone).
pub fn answer_json(stream: &mut TcpStream, body: &str) {
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The API of a server at `addr`, called with [`TOKEN`]. Bodies that are JSON come back parsed,
/// others as a JSON string.
#[derive(Copy, Clone, Debug)]
pub struct Api {
    pub addr: SocketAddr,
}

impl Api {
    pub fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> io::Result<(u16, serde_json::Value)> {
        let auth = format!("Bearer {TOKEN}");
        let (status, text) = http(self.addr, Some(&auth), method, path, content_type, body)?;
        let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Ok((status, value))
    }

    pub fn get(&self, path: &str) -> io::Result<(u16, serde_json::Value)> {
        self.call("GET", path, None, b"")
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> io::Result<(u16, serde_json::Value)> {
        self.call("POST", path, Some("application/json"), body.to_string().as_bytes())
    }

    pub fn deploy(&self, xml: &[u8]) -> io::Result<(u16, serde_json::Value)> {
        self.call("POST", "/api/v1/processes", Some("application/xml"), xml)
    }
}

/// The `sluice serve` command most end-to-end tests start: listening on `addr` with SQLite in
/// `dir`, accepting the API token `token`, public at `http://sluice.example`, no processes from
/// `SLUICE_PROCESSES`, `RUST_LOG=warn`. Tests add the rest.
pub fn serve_command(dir: &Path, addr: SocketAddr, token: &str) -> Command {
    let mut cmd = Command::new(sluice_bin());
    cmd.arg("serve")
        .env("SLUICE_LISTEN", addr.to_string())
        .env("SLUICE_DATABASE_URL", format!("sqlite://{}", dir.join("sluice.db").display()))
        .env("SLUICE_API_TOKEN", token)
        .env("SLUICE_PUBLIC_URL", "http://sluice.example")
        .env_remove("SLUICE_PROCESSES")
        .env("RUST_LOG", "warn");
    cmd
}

/// A `sluice serve` started from a command of the test's own (see [`serve_command`]); killed
/// when dropped.
pub struct Spawned {
    child: Child,
    pub addr: SocketAddr,
}

impl Spawned {
    /// Spawns `cmd`, which listens on `addr`, with its stdout discarded (stderr is the test's
    /// unless `cmd` says otherwise), and waits until it accepts connections: a panic if it exits
    /// first or does not listen within 30 s.
    pub fn start(cmd: &mut Command, addr: SocketAddr) -> Spawned {
        let child = cmd.stdout(Stdio::null()).spawn().unwrap_or_else(|e| panic!("cannot start sluice serve: {e}"));
        let mut spawned = Spawned { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = spawned.child.try_wait() {
                panic!("sluice serve exited early: {status}");
            }
            assert!(Instant::now() < deadline, "sluice serve did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        spawned
    }

    /// SIGTERM, then waits (up to 20 s) for it to exit; the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        sigterm(&mut self.child, Duration::from_secs(20), String::new)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGTERM to `child` and waits up to `timeout` for it to exit; a panic (with `log()`) if
/// it cannot be sent or the child lives on.
fn sigterm(child: &mut Child, timeout: Duration, log: impl Fn() -> String) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    match Command::new("kill").args(["-TERM", &pid]).status() {
        Ok(s) if s.success() => {}
        other => panic!("cannot send SIGTERM to {pid}: {other:?}"),
    }
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("sluice did not stop after SIGTERM: {other:?}\n{}", log()),
        }
    }
}

/// How to start `sluice serve`.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// Where each start's stderr goes (`<name>-<n>.log`, appended).
    pub log_dir: PathBuf,
    /// More environment variables (`SLUICE_REQUEST_LEASE_SECS`, …).
    pub env: Vec<(String, String)>,
    /// The most address space the server may map, in bytes (`RLIMIT_AS`, set by `ulimit -v` in
    /// the shell that then becomes the server); `None`: no limit of the test's.
    pub address_space: Option<u64>,
}

/// A running `sluice serve` on a port of its own; killed (SIGKILL) when dropped.
pub struct Serve {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

/// When a SIGKILL was sent and when the process was seen dead: a call the process made arrived
/// before `dead`; nothing it made arrives after it.
#[derive(Copy, Clone, Debug)]
pub struct Kill {
    pub sent: Instant,
    pub dead: Instant,
}

impl Serve {
    /// Starts `sluice serve` on a fresh port (without waiting for it; see [`Serve::wait_ready`]).
    pub fn spawn(config: &ServeConfig, name: &str) -> io::Result<Serve> {
        let addr = free_port();
        let log = config.log_dir.join(format!("{name}.log"));
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let mut cmd = match config.address_space {
            Some(bytes) => {
                // `exec`: the limited shell becomes the server, so the pid is the server's.
                let mut cmd = Command::new("bash");
                cmd.arg("-c")
                    .arg(format!("ulimit -v {} && exec \"$0\" \"$@\"", bytes / 1024))
                    .arg(sluice_bin())
                    // glibc reserves 64 MiB of address space for each malloc arena, up to eight
                    // arenas a core: two keep the mapped size near what is used.
                    .env("MALLOC_ARENA_MAX", "2");
                cmd
            }
            None => Command::new(sluice_bin()),
        };
        cmd.arg("serve")
            .env("SLUICE_LISTEN", addr.to_string())
            .env("SLUICE_DATABASE_URL", &config.database_url)
            .env("SLUICE_API_TOKEN", TOKEN)
            // The same on every node (PostgreSQL requires one; SQLite would generate a key file).
            .env("SLUICE_SECRET_KEY", "5a1ce5a1ce5a1ce5a1ce5a1ce5a1ce5a1ce5a1ce5a1ce5a1ce5a1ce5a1ce5a1c")
            .env("SLUICE_PUBLIC_URL", "http://sluice.example")
            .env_remove("SLUICE_PROCESSES")
            .env_remove("SLACK_BOT_TOKEN")
            .env("SLACK_API_URL", "http://127.0.0.1:9")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        for (k, v) in &config.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn()?;
        Ok(Serve { child, addr, log })
    }

    /// Starts it and waits until `/healthz` answers.
    pub fn start(config: &ServeConfig, name: &str) -> Serve {
        let mut s = match Serve::spawn(config, name) {
            Ok(s) => s,
            Err(e) => panic!("cannot start sluice serve: {e}"),
        };
        if let Err(e) = s.wait_ready(Duration::from_secs(30)) {
            panic!("{e}");
        }
        s
    }

    /// Waits until `/healthz` answers 200; an error (with the server's log) if it exited or took
    /// longer than `timeout`.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, _)) = http(self.addr, None, "GET", "/healthz", None, b"") {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("sluice serve exited with {status} before serving:\n{}", self.log_tail()));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "sluice serve did not serve on {} in {timeout:?}:\n{}",
                    self.addr,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn api(&self) -> Api {
        Api { addr: self.addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How it exited, or `None` while it runs.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL, then waits for the process to be gone.
    pub fn kill9(mut self) -> Kill {
        let sent = Instant::now();
        let _ = self.child.kill();
        let _ = self.child.wait();
        Kill { sent, dead: Instant::now() }
    }

    /// SIGTERM, then waits (up to 30 s) for a graceful exit; the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        sigterm(&mut self.child, Duration::from_secs(30), || log_tail(&self.log, 40))
    }

    /// The last lines of this server's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 40)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of a file (empty if it cannot be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
