//! A short fuzzing smoke on every `cargo test`: each target replays its
//! committed corpus, then runs random mutations of it for a while
//! (`SENDLENS_FUZZ_SECONDS` per target, 2 by default). Not coverage
//! guided: `cargo fuzz run TARGET` (see `fuzz/README.md`) is the real run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{TARGETS, Target};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// xorshift64*: enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the targets: JSON structure, escapes, multi-byte
/// characters, Parquet's magic.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b":",
    b",",
    b"\n",
    b"\r\n",
    b" ",
    b"null",
    b"true",
    b"\"event_type\":",
    b"\"eventType\":",
    b"\\u0040",
    b"%40",
    b"\xc3\xa9",
    b"\xff",
    b"PAR1",
    b"\x00",
    b"1e999",
    b"-0",
    b"<script>",
    b"&amp;",
];

fn mutate(rng: &mut Rng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            2 if at < v.len() => {
                let n = 1 + rng.below((v.len() - at).min(64));
                v.drain(at..at + n);
            }
            3 => v.truncate(at),
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let n = 1 + rng.below((other.len() - from).min(256));
                v.splice(at..at, other[from..from + n].iter().copied());
            }
            _ => {
                let n = rng.below(16);
                let byte = rng.next() as u8;
                v.splice(at..at, std::iter::repeat_n(byte, n));
            }
        }
    }
    v
}

/// Run one input; a failure keeps the input in `target/fuzz-smoke/` for
/// `cargo fuzz run TARGET FILE` to reproduce.
fn run(target: &str, f: Target, input: &[u8], how: &str) {
    if std::panic::catch_unwind(|| f(input)).is_err() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-smoke");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{target}-{:016x}", fnv(input)));
        let _ = std::fs::write(&file, input);
        panic!(
            "fuzz target {target} failed on {how}; the input is in {}",
            file.display()
        );
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn every_target_survives_its_corpus_and_random_mutations_of_it() {
    sendlens_events::guard::quiet_guarded_panics();
    let seconds: u64 = std::env::var("SENDLENS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    for &(target, f) in TARGETS {
        let inputs = corpus(target);
        assert!(!inputs.is_empty(), "{target} has a corpus");
        for (i, input) in inputs.iter().enumerate() {
            run(target, f, input, &format!("corpus entry {i}"));
        }
        let mut rng = Rng(seed);
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut runs = 0u64;
        while Instant::now() < until {
            let base = &inputs[rng.below(inputs.len())];
            let other = &inputs[rng.below(inputs.len())];
            let input = mutate(&mut rng, base, other);
            run(target, f, &input, &format!("a mutation (seed {seed})"));
            runs += 1;
        }
        println!(
            "{target}: {} corpus entries, {runs} mutations",
            inputs.len()
        );
    }
}
