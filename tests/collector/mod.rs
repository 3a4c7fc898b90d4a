//! Helpers for the tests that run `canvass serve`: a workspace, signed links, the server
//! process on a free loopback port, and a small HTTP/1.1 client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use canvass::token::{Claims, Key};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// The signing key of every test server (32 bytes, base64).
pub const KEY: &str = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC0=";
/// The survey of the test workspace.
pub const SURVEY: &str = "fb";

/// The test survey at a version; version 2 adds a required `effort` question.
pub fn survey_yaml(version: u32) -> String {
    let effort = if version >= 2 {
        "  - { id: effort, type: ces, required: true, text: How easy was it? }\n"
    } else {
        ""
    };
    format!(
        "id: fb\nversion: {version}\nlocales: [en]\ntitle: Feedback\nquestions:\n\
         \x20 - {{ id: score, type: nps, required: true, text: How likely are you to recommend us? }}\n\
         \x20 - {{ id: why, type: text, when: score <= 6, max_length: 200, text: What went wrong? }}\n\
         \x20 - {{ id: solved, type: yes_no, required: true, text: Was your problem solved? }}\n\
         {effort}thanks: Thanks a lot!\nincentive: \"Your code: THANKS10\"\n"
    )
}

/// A workspace with the test survey at `version`.
pub fn workspace(version: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("surveys/fb")).unwrap();
    set_version(dir.path(), version);
    dir
}

/// Rewrites the test survey at another version.
pub fn set_version(root: &Path, version: u32) {
    std::fs::write(root.join("surveys/fb/survey.yaml"), survey_yaml(version)).unwrap();
}

/// An e-mail rule to one person (ana@example.com) and `base_url` pointing at the server.
pub fn write_distribution(root: &Path, base_url: &str) {
    std::fs::create_dir_all(root.join("audiences")).unwrap();
    std::fs::write(
        root.join("audiences/people.csv"),
        "email,first_name\nana@example.com,Ana\n",
    )
    .unwrap();
    std::fs::write(
        root.join("surveys/fb/distribution.yaml"),
        "survey: fb\nrules:\n  - id: after-ticket\n    channel: email\n    audience:\n      \
         file: ../../audiences/people.csv\n      key: email\n      name: first_name\n    \
         email:\n      from: \"Support <support@example.com>\"\n      \
         subject: \"{{ name }}, how did we do?\"\n",
    )
    .unwrap();
    std::fs::write(root.join("canvass.yaml"), format!("base_url: {base_url}\n")).unwrap();
}

/// The store of a workspace, opened read-only by the test.
pub fn db(root: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(root.join(".canvass/state.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn
}

/// One number from the store.
pub fn count(root: &Path, sql: &str) -> i64 {
    db(root).query_row(sql, [], |row| row.get(0)).unwrap()
}

/// A signed link for a delivery; `expires_in` seconds from now (negative: expired).
pub fn token(version: u32, delivery: &str, expires_in: i64) -> String {
    token_for(
        version,
        delivery,
        &format!("recipient-{delivery}"),
        expires_in,
    )
}

/// A signed link for a delivery to a given recipient key.
pub fn token_for(version: u32, delivery: &str, recipient: &str, expires_in: i64) -> String {
    let key = Key::from_base64(KEY).unwrap();
    key.sign(&Claims {
        survey: SURVEY.into(),
        version,
        rule: "after-ticket".into(),
        recipient: recipient.into(),
        delivery: delivery.into(),
        expires: jiff::Timestamp::now().as_second() + expires_in,
        kind: canvass::token::TokenKind::Delivery,
    })
}

/// A running `canvass serve`, killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    /// The address it listens on.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the real binary on a free loopback port and waits for its address.
    pub fn start(root: &Path) -> Server {
        Server::start_with(root, env!("CARGO_BIN_EXE_canvass").into())
    }

    /// Starts the real binary with more `serve` arguments.
    pub fn start_serving(root: &Path, args: &[&str]) -> Server {
        Server::spawn(root, env!("CARGO_BIN_EXE_canvass").into(), args, Some(KEY))
    }

    /// Starts the real binary without `CANVASS_KEY`, as a local trial does.
    pub fn start_keyless(root: &Path) -> Server {
        Server::spawn(root, env!("CARGO_BIN_EXE_canvass").into(), &[], None)
    }

    /// Starts a given build of the binary.
    pub fn start_with(root: &Path, binary: PathBuf) -> Server {
        Server::spawn(root, binary, &[], Some(KEY))
    }

    fn spawn(root: &Path, binary: PathBuf, args: &[&str], key: Option<&str>) -> Server {
        let mut command = Command::new(binary);
        match key {
            Some(key) => command.env("CANVASS_KEY", key),
            None => command.env_remove("CANVASS_KEY"),
        };
        command
            .args(["--workspace"])
            .arg(root)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args);
        Server::from_command(command)
    }

    /// Runs a prepared `serve` command and waits for its address.
    pub fn from_command(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .parse()
            .unwrap();
        Server { child, addr }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A reply: status, headers and body text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

/// A keep-alive HTTP/1.1 connection.
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Client {
    /// Connects to the server.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(Client {
            sender,
            host: addr.to_string(),
        })
    }

    /// GET a path.
    pub async fn get(&mut self, path: &str) -> Result<Reply, hyper::Error> {
        self.send("GET", path, &[], None).await
    }

    /// GET a path with extra request headers.
    pub async fn get_with(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, hyper::Error> {
        self.send("GET", path, headers, None).await
    }

    /// POST a form body to a path.
    pub async fn post(&mut self, path: &str, form: &str) -> Result<Reply, hyper::Error> {
        self.send("POST", path, &[], Some(form.to_string())).await
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<Reply, hyper::Error> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// One request on a new connection.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    Client::connect(addr)
        .await
        .unwrap()
        .get(path)
        .await
        .unwrap()
}

/// One request on a new connection, with extra headers.
pub async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    Client::connect(addr)
        .await
        .unwrap()
        .get_with(path, headers)
        .await
        .unwrap()
}

/// One form POST on a new connection.
pub async fn post(addr: SocketAddr, path: &str, form: &str) -> Reply {
    Client::connect(addr)
        .await
        .unwrap()
        .post(path, form)
        .await
        .unwrap()
}

/// Percent-encodes a form value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `canvass send --all --yes` in the workspace and returns the outbox's messages.
pub fn send_all(root: &Path) -> Vec<String> {
    let sent = Command::new(env!("CARGO_BIN_EXE_canvass"))
        .arg("--workspace")
        .arg(root)
        .args(["send", "--all", "--yes"])
        .env("CANVASS_KEY", KEY)
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    outbox(root)
}

/// The outbox's messages, quoted-printable decoded.
pub fn outbox(root: &Path) -> Vec<String> {
    let dir = root.join(".canvass/outbox");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no outbox at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| decode_quoted_printable(&std::fs::read_to_string(f).unwrap()))
        .collect()
}

/// A quoted-printable body decoded (soft line breaks joined, `=XX` bytes read).
pub fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
