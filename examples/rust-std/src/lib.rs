//! A little library the binaries and tests share: word counting.
use std::collections::HashMap;

/// How often each word occurs in `text`.
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
