//! The tokio example: an async server on tokio's multi-threaded runtime (mio, epoll, eventfd
//! inside the unikernel), serving many clients at once on one port. A client's first line picks:
//! - `GET …` (HTTP): a small JSON answer, then the connection closes;
//! - anything else: echoed back, line by line, until the client closes.
//! `tokio-echo [PORT]`, default 8080.
use std::env;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let port: u16 = env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(serve(port));
}

async fn serve(port: u16) {
    let listener = TcpListener::bind(("0.0.0.0", port)).await.expect("listen");
    println!("tokio listening on port {port}");
    let served = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("accept: {error}");
                continue;
            }
        };
        let number = served.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Err(error) = client(stream, number).await {
                eprintln!("client {number}: {error}");
            }
        });
    }
}

async fn client(stream: TcpStream, number: u64) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    let Some(first) = lines.next_line().await? else { return Ok(()) };
    if first.starts_with("GET ") {
        // Read the rest of the request's head, then answer.
        while let Some(line) = lines.next_line().await? {
            if line.is_empty() {
                break;
            }
        }
        let body = format!("{{\"server\":\"tokio\",\"connection\":{number}}}\n");
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        writer.write_all(reply.as_bytes()).await?;
        return writer.shutdown().await;
    }
    let mut line = Some(first);
    while let Some(text) = line {
        writer.write_all(text.as_bytes()).await?;
        writer.write_all(b"\n").await?;
        line = lines.next_line().await?;
    }
    writer.shutdown().await
}
