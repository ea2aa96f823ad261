//! Small network and clock checks that run inside the unikernel, for kraftld's tests:
//! - `netcheck sleep MS`: sleeps MS milliseconds with std::thread::sleep, prints how long it took;
//! - `netcheck fetch HOST:PORT PATH`: an HTTP/1.0 GET with std::net::TcpStream, prints the body;
//! - `netcheck udp-echo PORT`: answers every UDP datagram with the same bytes, until stopped.
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};
use std::{env, process, thread};

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["sleep", ms] => {
            let ms: u64 = ms.parse().expect("milliseconds");
            let before = Instant::now();
            thread::sleep(Duration::from_millis(ms));
            println!("slept {} us", before.elapsed().as_micros());
        }
        ["fetch", address, path] => {
            let mut stream = connect(address);
            write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("send the request");
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).expect("read the reply");
            let text = String::from_utf8_lossy(&reply);
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            println!("status: {}", head.lines().next().unwrap_or(""));
            print!("{body}");
        }
        ["udp-echo", port] => {
            let socket = UdpSocket::bind(("0.0.0.0", port.parse::<u16>().expect("a port"))).expect("bind");
            println!("udp echo on port {port}");
            let mut buffer = [0u8; 2048];
            loop {
                let (size, peer) = socket.recv_from(&mut buffer).expect("receive");
                socket.send_to(&buffer[..size], peer).expect("send");
            }
        }
        _ => {
            eprintln!("usage: netcheck sleep MS | fetch HOST:PORT PATH | udp-echo PORT");
            process::exit(2);
        }
    }
}

/// Connects, retrying for a few seconds: the interface may still be taking its address.
fn connect(address: &str) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(address) {
            Ok(stream) => return stream,
            Err(error) if Instant::now() < deadline => {
                eprintln!("connect {address}: {error}; retrying");
                thread::sleep(Duration::from_millis(200));
            }
            Err(error) => {
                eprintln!("connect {address}: {error}");
                process::exit(1);
            }
        }
    }
}
