//! What Rust programs expect of memory, stacks and files, one fact per line.
use std::collections::BTreeMap;

/// Recurses until `bytes` of stack are in use below `top` (measured, whatever the frames' size in
/// a debug build), and returns how deep that was.
fn depth(top: usize, bytes: usize) -> usize {
    let frame = std::hint::black_box([0u8; 512]);
    let here = frame.as_ptr() as usize;
    if top - here >= bytes { 1 } else { 1 + std::hint::black_box(depth(top, bytes)) }
}

fn recurse(bytes: usize) -> bool {
    let top = 0u8;
    depth(std::hint::black_box(&top as *const u8 as usize), bytes) > 0
}

/// A recursion that never ends: only a guard page stops it.
#[allow(unconditional_recursion)]
fn forever(depth: usize) -> usize {
    let frame = std::hint::black_box([depth as u8; 512]);
    std::hint::black_box(forever(depth + 1)) + frame[0] as usize
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("overflow") => {
            // 3 MiB of frames in std's default 2 MiB: the guard page below the thread's stack
            let joined = std::thread::spawn(|| recurse(3 << 20)).join();
            println!("an overflowing thread was joined: {}", joined.is_ok());
            return;
        }
        Some("runaway-main") => {
            println!("runaway recursion in main");
            println!("returned: {}", forever(0));
            return;
        }
        Some("runaway-thread") => {
            println!("runaway recursion in a thread");
            println!("joined: {:?}", std::thread::spawn(|| forever(0)).join().is_ok());
            return;
        }
        _ => {}
    }
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let boxes: Vec<Box<u64>> = (0..n as u64).map(Box::new).collect();
    let vecs: Vec<Vec<u32>> = (0..n).map(|i| vec![i as u32; 1 + i % 7]).collect();
    let strings: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let map: BTreeMap<usize, usize> = (0..n).map(|i| (i, i * 2)).collect();
    println!(
        "small allocations: {} boxes, {} vecs, {} strings, {} map entries",
        boxes.iter().filter(|b| ***b < n as u64).count(),
        vecs.iter().filter(|v| v[0] as usize % 7 == v.len() - 1 || true).count(),
        strings.len(),
        map.len()
    );
    drop((boxes, vecs, strings, map));
    let default = std::thread::spawn(|| recurse(3 << 19)).join().unwrap();
    println!("default thread recursed through 1.5 MiB: {default}");
    let big = std::thread::Builder::new().stack_size(9 << 20).spawn(|| recurse(8 << 20)).unwrap().join().unwrap();
    println!("9 MiB thread recursed through 8 MiB: {big}");
    std::fs::create_dir_all("/tree/sub").unwrap();
    for i in 0..30 {
        std::fs::write(format!("/tree/f{i}"), b"x").unwrap();
        std::fs::write(format!("/tree/sub/g{i}"), b"y").unwrap();
    }
    println!("remove_dir_all: {:?}", std::fs::remove_dir_all("/tree").map_err(|e| e.to_string()));
    println!("open(\"\"): {:?}", std::fs::File::open("").map_err(|e| e.kind()).err());
    std::fs::write("/a", b"a").unwrap();
    println!("hard_link: {:?}", std::fs::hard_link("/a", "/b").map_err(|e| e.raw_os_error()).err());
}
