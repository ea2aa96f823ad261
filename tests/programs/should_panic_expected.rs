//! should_panic tests with an expected text, which libtest compares with the panic message:
//! on this panic=abort target kraftld-run must do it. Copied into the rust-std example's tests/
//! by tests/integration/test_rust_std.py; on a host (`-Cpanic=abort -Zpanic-abort-tests`, or
//! unwinding) the same 5 pass and c_expected_differs fails.

#[test]
fn a_passes() {}

#[test]
#[should_panic(expected = "boom")]
fn b_expected_matches() {
    panic!("a big boom here");
}

// Must FAIL, as on the host: "bang" is not in the message.
#[test]
#[should_panic(expected = "bang")]
fn c_expected_differs() {
    panic!("boom, not what was expected");
}

// A formatted message (a String payload), from std's own panic.
#[test]
#[should_panic(expected = "index out of bounds")]
fn d_formatted_message_matches() {
    let empty: Vec<u8> = Vec::new();
    let _ = empty[1];
}

#[test]
#[should_panic]
fn e_plain_should_panic() {
    panic!("anything");
}

#[test]
fn f_passes_after() {}
