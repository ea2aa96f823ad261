//! A test binary run inside the unikernel: its exit status is the verdict (0 passes).
#![no_std]
#![no_main]

use core::ffi::{c_char, c_int};
use core::panic::PanicInfo;

extern "C" {
    fn printf(format: *const c_char, ...) -> c_int;
    fn abort() -> !;
}

fn checksum(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |sum, &byte| sum.rotate_left(5) ^ u32::from(byte))
}

#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    let ok = checksum(b"unikraft") == checksum(b"unikraft") && checksum(b"a") != checksum(b"b");
    unsafe { printf(c"smoke test: %s\n".as_ptr(), if ok { c"ok".as_ptr() } else { c"FAILED".as_ptr() }) };
    if ok { 0 } else { 1 }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    unsafe { abort() }
}
