//! The Rust std example: output, collections, arguments and environment, files on the RAM root
//! filesystem, a thread, a clock, and an exit status. `hello panic` panics instead.
use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;
use std::{env, fs, process, thread};

fn main() {
    let started = Instant::now();
    let args: Vec<String> = env::args().skip(1).collect();
    println!("Hello from Rust std in a Unikraft unikernel!");
    println!("arguments: {args:?}");
    let greeting = env::var("GREETING").unwrap_or_else(|_| String::from("(GREETING is not set)"));
    println!("GREETING={greeting}");
    if args.first().map(String::as_str) == Some("panic") {
        panic!("asked to panic with {} argument(s)", args.len());
    }

    let counts = kraftld_std_example::word_counts("the quick brown fox jumps over the lazy dog at the end");
    let mut lengths: HashMap<usize, Vec<&str>> = HashMap::new();
    for word in counts.keys() {
        lengths.entry(word.len()).or_default().push(word);
    }
    println!("'the' appears {} times among {} distinct words", counts["the"], counts.len());
    println!("{} distinct word lengths", lengths.len());

    fs::create_dir_all("/data").expect("create /data");
    fs::write("/data/note.txt", "written and read back inside the unikernel\n").expect("write /data/note.txt");
    print!("file: {}", fs::read_to_string("/data/note.txt").expect("read /data/note.txt"));

    let worker = thread::spawn(|| (1..=20u64).product::<u64>());
    println!("20! from another thread = {}", worker.join().expect("join the thread"));

    eprintln!("this line went to stderr");
    let elapsed = started.elapsed();
    println!("the clock moved: {}", elapsed.as_nanos() > 0);
    std::io::stdout().flush().expect("flush stdout");
    process::exit(3);
}
