//! A stand-in for an OpenTelemetry collector's OTLP/HTTP receiver: it takes `POST /v1/traces`
//! with a JSON body on 127.0.0.1 (keep-alive connections, as an SDK's client uses them), answers
//! `200 {}` as a collector does, and keeps every document for the test to read. Any other path
//! is answered the same way and kept too (a connector's call in a traced Request, say).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// One export the collector received.
#[derive(Clone, Debug)]
pub struct Export {
    pub path: String,
    pub content_type: String,
    /// The request's `traceparent` header, if it had one.
    pub traceparent: Option<String>,
    pub body: Value,
}

/// The running stand-in (its thread lives as long as the test process).
pub struct Collector {
    pub addr: SocketAddr,
    exports: Arc<Mutex<Vec<Export>>>,
}

impl Collector {
    pub fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("cannot listen: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("no address: {e}"));
        let exports = Arc::new(Mutex::new(Vec::new()));
        let kept = exports.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || serve(stream, &kept));
            }
        });
        Collector { addr, exports }
    }

    /// What `OTEL_EXPORTER_OTLP_ENDPOINT` should say.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn exports(&self) -> Vec<Export> {
        self.exports.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Every span received so far, each with its resource's attributes beside it
    /// (`{"resource": [...], "span": {...}}`).
    pub fn spans(&self) -> Vec<(Value, Value)> {
        let mut out = Vec::new();
        for export in self.exports() {
            for rs in export.body["resourceSpans"].as_array().into_iter().flatten() {
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    for span in ss["spans"].as_array().into_iter().flatten() {
                        out.push((rs["resource"].clone(), span.clone()));
                    }
                }
            }
        }
        out
    }
}

fn serve(mut stream: TcpStream, kept: &Mutex<Vec<Export>>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // One request: the head, then Content-Length bytes of body.
        let (head_end, len) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let len = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
                break (end + 4, len);
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        while buf.len() < head_end + len {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let body = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
        let path = head.split(' ').nth(1).unwrap_or_default().to_string();
        let content_type = header(&head, "content-type").unwrap_or_default();
        let traceparent = header(&head, "traceparent");
        if let Ok(mut e) = kept.lock() {
            e.push(Export { path, content_type, traceparent, body });
        }
        buf.drain(..head_end + len);
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
}
