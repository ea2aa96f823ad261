//! An integration test that runs inside the unikernel: files, threads and the library.
use std::{fs, thread};

#[test]
fn files_on_the_ram_root() {
    fs::write("/test-file", b"data").unwrap();
    assert_eq!(fs::read("/test-file").unwrap(), b"data");
}

#[test]
fn threads_join() {
    let handles: Vec<_> = (0..4).map(|i| thread::spawn(move || i * 2)).collect();
    let total: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 12);
}

#[test]
fn library_counts_words() {
    assert_eq!(kraftld_std_example::word_counts("x y x")["x"], 2);
}

#[test]
fn prints_a_line() {
    // Shown only with `cargo test -- --nocapture`: libtest captures it otherwise.
    println!("printed by a test");
}

#[test]
#[ignore = "runs only with `cargo test -- --ignored`"]
fn ignored_by_default() {
    assert_eq!(std::env::var("ONLY_IGNORED").as_deref(), Ok("yes"));
}
