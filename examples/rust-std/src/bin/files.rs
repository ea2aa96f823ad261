//! Files in a folder the host shares (`kraftld-run -v HOST_DIR:/data files ...`):
//! `files read PATH`, `files write PATH TEXT`, `files list DIR`. A failure prints its error
//! kind and exits with status 2.
use std::{env, fs, process};

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["read", path] => fs::read_to_string(path).map(|text| println!("<{text}>")),
        ["write", path, text] => fs::write(path, text).map(|()| println!("wrote {} bytes", text.len())),
        ["list", folder] => fs::read_dir(folder).map(|entries| {
            let mut names: Vec<String> =
                entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            for name in names {
                println!("{name}");
            }
        }),
        _ => {
            eprintln!("usage: files read PATH | write PATH TEXT | list DIR");
            process::exit(64);
        }
    };
    if let Err(error) = result {
        println!("error: {:?}", error.kind());
        process::exit(2);
    }
}
