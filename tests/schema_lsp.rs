//! The survey schema as an editor sees it: `yaml-language-server` over LSP stdio shows
//! each key's own description on hover and completes only the keys a question's type
//! takes. Skipped with a note when the server is not installed
//! (`npm install yaml-language-server` into `$CANVASS_NODE_MODULES/..`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

const SURVEY: &str = "\
id: s
version: 1
locales: [en]
title: T
intro: I
questions:
  - id: recommend
    type: nps
    text: Recommend?
    
";

/// The server's entry point, when installed.
fn server() -> Option<PathBuf> {
    let modules = PathBuf::from(std::env::var_os("CANVASS_NODE_MODULES")?);
    let bin = modules.join("yaml-language-server/bin/yaml-language-server");
    bin.is_file().then_some(bin)
}

/// An LSP session over the server's stdio.
struct Session {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
}

impl Session {
    fn start(bin: &Path) -> Session {
        let mut child = Command::new("node")
            .arg(bin)
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the server");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, messages) = channel();
        std::thread::spawn(move || {
            while let Some(message) = read_message(&mut stdout) {
                if send.send(message).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            stdin,
            messages,
            next_id: 1,
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and waits for its answer, answering the server's own requests
    /// (for settings) on the way.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self
                .messages
                .recv_timeout(Duration::from_secs(30))
                .expect("the server answers");
            if message.get("method").is_some() && message.get("id").is_some() {
                self.answer_server(&message);
            } else if message["id"] == id {
                return message["result"].clone();
            }
        }
    }

    fn answer_server(&mut self, message: &Value) {
        let items = message["params"]["items"].as_array().map_or(0, Vec::len);
        let settings = json!({"validate": true, "hover": true, "completion": true});
        let result = if message["method"] == "workspace/configuration" {
            Value::Array(vec![settings; items])
        } else {
            Value::Null
        };
        let id = message["id"].clone();
        self.send(json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_message(stdout: &mut impl BufRead) -> Option<Value> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            length = n.parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    stdout.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn hover_text(result: &Value) -> String {
    match &result["contents"] {
        Value::String(s) => s.clone(),
        Value::Object(o) => o.get("value").and_then(Value::as_str).unwrap_or("").into(),
        other => other.to_string(),
    }
}

#[test]
fn hover_describes_each_key_and_completion_fits_the_question_type() {
    let Some(bin) = server() else {
        eprintln!("note: yaml-language-server is not installed; the editor test was skipped");
        return;
    };
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/survey.schema.json");
    let text = format!(
        "# yaml-language-server: $schema=file://{}\n{SURVEY}",
        schema.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("file://{}/survey.yaml", dir.path().display());
    let mut lsp = Session::start(&bin);
    lsp.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {
            "textDocument": {"hover": {"contentFormat": ["plaintext"]}},
            "workspace": {"configuration": true}}}),
    );
    lsp.notify("initialized", json!({}));
    lsp.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"yaml": {"validate": true, "hover": true, "completion": true}}}),
    );
    lsp.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}),
    );
    let at = |line: usize, character: usize| json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
    let title = hover_text(&lsp.request("textDocument/hover", at(4, 1)));
    let intro = hover_text(&lsp.request("textDocument/hover", at(5, 1)));
    assert!(title.contains("heading"), "title: {title}");
    assert!(intro.contains("before the questions"), "intro: {intro}");
    assert_ne!(title, intro);
    let completion = lsp.request("textDocument/completion", at(10, 4));
    let items = completion
        .get("items")
        .or(Some(&completion))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let labels: Vec<&str> = items.iter().filter_map(|i| i["label"].as_str()).collect();
    assert!(labels.contains(&"scale"), "{labels:?}");
    assert!(!labels.contains(&"options"), "{labels:?}");
    assert!(!labels.contains(&"max_length"), "{labels:?}");
}
