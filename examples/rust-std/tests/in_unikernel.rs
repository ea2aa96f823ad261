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
