//! The no_std Rust example: prints its arguments through the unikernel's libc; `exit N` as
//! arguments makes it exit with status N.
#![no_std]
#![no_main]

use core::ffi::{c_char, c_int};
use core::panic::PanicInfo;

extern "C" {
    fn printf(format: *const c_char, ...) -> c_int;
    fn strcmp(a: *const c_char, b: *const c_char) -> c_int;
    fn atoi(text: *const c_char) -> c_int;
}

#[no_mangle]
pub extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    unsafe {
        printf(c"Hello from no_std Rust in a Unikraft unikernel!\n".as_ptr());
        for i in 1..argc as isize {
            printf(c"  argument %d: %s\n".as_ptr(), i as c_int, *argv.offset(i));
        }
        if argc > 2 && strcmp(*argv.offset(1), c"exit".as_ptr()) == 0 {
            return atoi(*argv.offset(2));
        }
    }
    0
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    extern "C" {
        fn abort() -> !;
    }
    unsafe { abort() }
}
