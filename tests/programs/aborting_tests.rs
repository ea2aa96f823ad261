//! Tests that end the whole test binary on a panic=abort target: kraftld-run must finish the
//! run. Copied into the rust-std example's tests/ by tests/integration/test_rust_std.py.

#[test]
fn a_passes() {
    assert_eq!(2 + 2, 4);
}

#[test]
#[should_panic(expected = "boom")]
fn b_panics_as_it_should() {
    panic!("boom");
}

#[test]
fn c_fails() {
    assert_eq!(1 + 1, 3, "arithmetic is off");
}

#[test]
#[ignore = "only with --ignored"]
fn d_ignored() {}

#[test]
#[should_panic]
fn e_panics_too() {
    let empty: Vec<u8> = Vec::new();
    let _ = empty[1];
}

#[test]
fn f_passes_after_the_aborts() {
    assert!(std::env::args().count() >= 1);
}
