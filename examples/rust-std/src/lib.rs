//! A little library the binaries and tests share: word counting.
use std::collections::HashMap;

/// How often each word occurs in `text`.
///
/// ```
/// // A doctest: linked by kraftld and booted by kraftld-run like every test binary.
/// let counts = kraftld_std_example::word_counts("to be or not to be");
/// assert_eq!(counts["to"], 2);
/// assert_eq!(counts["or"], 1);
/// ```
pub fn word_counts(text: &str) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_repeated_words() {
        let counts = super::word_counts("a b a");
        assert_eq!(counts["a"], 2);
        assert_eq!(counts["b"], 1);
    }
}
