//! The example's second binary: it names itself and exits with status 7, so a test can tell
//! each of a package's images boots its own program.
fn main() {
    println!("second binary, arguments: {:?}", std::env::args().skip(1).collect::<Vec<_>>());
    std::process::exit(7);
}
