//! A deliberately small HTTP/1.1 layer: read one request, write one response, close.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One parsed HTTP request.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Query string without the `?` (empty when absent).
    pub query: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body bytes (per `Content-Length`).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header holds `token` in its comma-separated list (case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header(name).is_some_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    }

    /// Whether this is a WebSocket upgrade request.
    pub fn is_websocket_upgrade(&self) -> bool {
        self.header_has_token("upgrade", "websocket")
    }

    /// The value of query parameter `name`, if present (no percent-decoding needed here).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        query_param(&self.query, name)
    }
}

/// The value of `name` in a query string such as `v=10&encoding=json`.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed or the socket failed before a full request arrived.
    Io,
    /// Not valid HTTP/1.x, or unsupported framing; answer with this status.
    Bad(u16, &'static str),
}

/// Reads one request; also returns bytes read past its end (the start of WebSocket traffic).
pub async fn read_request(stream: &mut TcpStream) -> Result<(Request, Vec<u8>), ReadError> {
    let mut buf = Vec::with_capacity(4096);
    let (mut request, head_len, content_length) = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.map_err(|_| ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Io);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let target = parsed.path.unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let request = Request {
                    method: parsed.method.unwrap_or("GET").to_owned(),
                    path: path.to_owned(),
                    query: query.to_owned(),
                    headers,
                    body: Vec::new(),
                };
                if request.header_has_token("transfer-encoding", "chunked") {
                    return Err(ReadError::Bad(411, "chunked bodies are not supported"));
                }
                let length = match request.header("content-length") {
                    None => 0,
                    Some(v) => v
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| ReadError::Bad(400, "bad content-length"))?,
                };
                if length > MAX_BODY {
                    return Err(ReadError::Bad(413, "body too large"));
                }
                break (request, head_len, length);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => return Err(ReadError::Bad(431, "head too large")),
            Err(_) => return Err(ReadError::Bad(400, "malformed request")),
        }
    };
    let mut rest = buf.split_off(head_len);
    while rest.len() < content_length {
        let mut chunk = vec![0u8; (content_length - rest.len()).min(64 * 1024)];
        let n = stream.read(&mut chunk).await.map_err(|_| ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Io);
        }
        rest.extend_from_slice(&chunk[..n]);
    }
    let leftover = rest.split_off(content_length);
    request.body = rest;
    Ok((request, leftover))
}

/// One HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers (besides content type/length and `Connection: close`).
    pub headers: Vec<(String, String)>,
    /// Content type of `body`.
    pub content_type: &'static str,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Serializes status line, headers and body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Writes the response and shuts the write side down.
    pub async fn write_to(&self, stream: &mut TcpStream) {
        // The peer may already be gone; nothing useful to do about it.
        let _ = stream.write_all(&self.to_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

/// The reason phrase for the status codes the simulator uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_query_params() {
        let q = "v=10&encoding=json&compress=zlib-stream";
        assert_eq!(query_param(q, "v"), Some("10"));
        assert_eq!(query_param(q, "compress"), Some("zlib-stream"));
        assert_eq!(query_param(q, "x"), None);
        assert_eq!(query_param("", "v"), None);
    }

    #[test]
    fn serializes_responses() {
        let r = Response::json(429, &serde_json::json!({"a":1})).with_header("retry-after", "2");
        let text = String::from_utf8(r.to_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
        assert!(text.contains("retry-after: 2\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"a\":1}"));
    }
}
