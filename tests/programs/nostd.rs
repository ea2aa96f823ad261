//! A #![no_std] Rust program for the host target, linked by kraftld into a unikernel.
#![no_std]
#![no_main]

use core::panic::PanicInfo;

extern "C" {
    fn printf(format: *const u8, ...) -> i32;
}

#[no_mangle]
pub extern "C" fn main(argc: i32, argv: *const *const u8) -> i32 {
    unsafe {
        printf(b"no_std Rust says hello, argc=%d\n\0".as_ptr(), argc);
        for i in 1..argc as isize {
            printf(b"arg[%d]=<%s>\n\0".as_ptr(), i as i32, *argv.offset(i));
        }
    }
    argc + 10
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}
