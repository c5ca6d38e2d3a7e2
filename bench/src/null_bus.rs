//! A no-op EventBridge for figure 2's "bus excluded" rows: an HTTP server on 127.0.0.1 that
//! answers every `PutEvents` at once with one `EventId` per entry, so that the consumer's own
//! work (the real SDK's request building, signing and parsing included) is measured without
//! moto's speed. It counts the entries and calls it answered.

use crate::db::{BenchResult, Context};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running no-op EventBridge endpoint.
#[derive(Debug, Clone)]
pub struct NullBus {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    calls: Arc<AtomicU64>,
    entries: Arc<AtomicU64>,
}

impl NullBus {
    /// Starts the server on a free port of 127.0.0.1 (it runs until the runtime ends).
    pub async fn start() -> BenchResult<NullBus> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the no-op bus")?;
        let url = format!(
            "http://{}",
            listener.local_addr().context("no-op bus address")?
        );
        let bus = NullBus {
            url,
            calls: Arc::default(),
            entries: Arc::default(),
        };
        let (calls, entries) = (bus.calls.clone(), bus.entries.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (calls, entries) = (calls.clone(), entries.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &calls, &entries).await;
                });
            }
        });
        Ok(bus)
    }

    /// `PutEvents` calls answered so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Entries answered so far.
    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    /// An EventBridge client of `sdk` pointed at this server.
    pub fn client(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_eventbridge::Client {
        let config = aws_sdk_eventbridge::config::Builder::from(sdk)
            .endpoint_url(&self.url)
            .build();
        aws_sdk_eventbridge::Client::from_conf(config)
    }
}

/// Answers the requests of one keep-alive connection.
async fn serve(
    mut stream: TcpStream,
    calls: &AtomicU64,
    entries: &AtomicU64,
) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // Headers.
        let header_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < header_end + length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let count =
            serde_json::from_slice::<serde_json::Value>(&buf[header_end..header_end + length])
                .ok()
                .and_then(|v| v.get("Entries").and_then(|e| e.as_array()).map(Vec::len))
                .unwrap_or(0);
        buf.drain(..header_end + length);
        calls.fetch_add(1, Ordering::Relaxed);
        entries.fetch_add(count as u64, Ordering::Relaxed);
        let results: Vec<String> = (0..count)
            .map(|i| format!(r#"{{"EventId":"00000000-0000-0000-0000-{i:012}"}}"#))
            .collect();
        let body = format!(
            r#"{{"FailedEntryCount":0,"Entries":[{}]}}"#,
            results.join(",")
        );
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-requestid: 0\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
