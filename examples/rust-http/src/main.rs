//! The HTTP example: a tiny_http server in a Unikraft unikernel, serving a page and a JSON
//! endpoint. `cargo run` boots it with the host's 127.0.0.1:8080 forwarded to it:
//! `curl http://127.0.0.1:8080/` and `curl http://127.0.0.1:8080/api/status`.
//!
//! Also `/big` (1 MiB of bytes i*31+7 mod 256, for checking a large response arrives intact) and
//! `/sleep?ms=N` (sleeps N ms in the handler and says how long it took).
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::{env, thread};

use tiny_http::{Header, Request, Response, Server};

const PAGE: &str = "<!doctype html>
<html><head><title>kraftld</title></head>
<body><h1>Hello from a Rust unikernel</h1>
<p>tiny_http on Unikraft (lib-musl, lwIP), linked by kraftld.</p>
<p>JSON: <a href=\"/api/status\">/api/status</a></p></body></html>
";
const WORKERS: usize = 4;

fn main() {
    let port: u16 = env::args().nth(1).or_else(|| env::var("PORT").ok()).and_then(|p| p.parse().ok()).unwrap_or(8080);
    let server = Arc::new(Server::http(("0.0.0.0", port)).expect("listen"));
    println!("listening on http://0.0.0.0:{port}/");
    let started = Instant::now();
    let answered = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (server, answered) = (Arc::clone(&server), Arc::clone(&answered));
            thread::spawn(move || {
                for request in server.incoming_requests() {
                    let count = answered.fetch_add(1, Ordering::Relaxed);
                    if let Err(error) = respond(request, count, started) {
                        eprintln!("answering failed: {error}");
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker");
    }
}

fn respond(request: Request, count: u64, started: Instant) -> std::io::Result<()> {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    match path {
        "/" => request.respond(Response::from_string(PAGE).with_header(header("text/html; charset=utf-8"))),
        "/api/status" => {
            let body = format!(
                "{{\"server\":\"tiny_http\",\"unikernel\":\"unikraft\",\"requests_before_this\":{count},\"uptime_ms\":{}}}\n",
                started.elapsed().as_millis()
            );
            request.respond(Response::from_string(body).with_header(header("application/json")))
        }
        "/big" => {
            let body: Vec<u8> = (0..1024 * 1024).map(|i: u32| (i.wrapping_mul(31).wrapping_add(7)) as u8).collect();
            request.respond(Response::from_data(body).with_header(header("application/octet-stream")))
        }
        "/sleep" => {
            let ms: u64 = query.strip_prefix("ms=").and_then(|v| v.parse().ok()).unwrap_or(100);
            let before = Instant::now();
            thread::sleep(Duration::from_millis(ms));
            let body = format!("{{\"asked_ms\":{ms},\"slept_us\":{}}}\n", before.elapsed().as_micros());
            request.respond(Response::from_string(body).with_header(header("application/json")))
        }
        _ => request.respond(Response::from_string("not found\n").with_status_code(404)),
    }
}

fn header(content_type: &str) -> Header {
    Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()).expect("a valid header")
}
