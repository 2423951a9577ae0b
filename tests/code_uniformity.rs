//! S1: every digit of a code is uniform over 0–9, tested with Pearson's
//! chi-square on codes from the real generator fed by the OS CSPRNG, and a
//! proof that the same check catches a modulo-biased generator.

use countersign::code::Code;
use rand::rngs::{OsRng, StdRng};
use rand::{RngCore, SeedableRng};

const CODES: usize = 100_000;
const LENGTH: usize = 6;

/// Upper critical value of chi-square with 9 degrees of freedom (10 digit
/// values) at p ≈ 6.0e-7, i.e. below 1e-6. From the survival function
/// Q(9/2, x/2) (regularised upper incomplete gamma): Q at 44.81 is 1.0e-6,
/// at 46.0 it is 6.0e-7. With 7 statistics per run (6 positions + pooled)
/// a uniform generator fails a run with probability < 5e-6: it never flakes.
const CRITICAL_9DF: f64 = 46.0;

/// Pearson's statistic for digit counts against a uniform expectation.
fn chi_square(counts: &[u64; 10]) -> f64 {
    let n: u64 = counts.iter().sum();
    let expected = n as f64 / 10.0;
    counts
        .iter()
        .map(|&c| {
            let d = c as f64 - expected;
            d * d / expected
        })
        .sum()
}

/// Chi-square per digit position and over all digits pooled.
fn statistics(codes: impl Iterator<Item = String>) -> (Vec<f64>, f64) {
    let mut per_position = [[0u64; 10]; LENGTH];
    let mut pooled = [0u64; 10];
    let mut n = 0;
    for code in codes {
        assert_eq!(code.len(), LENGTH);
        for (pos, b) in code.bytes().enumerate() {
            assert!(b.is_ascii_digit(), "non-digit in a code");
            let d = usize::from(b - b'0');
            per_position[pos][d] += 1;
            pooled[d] += 1;
        }
        n += 1;
    }
    assert_eq!(n, CODES);
    (
        per_position.iter().map(chi_square).collect(),
        chi_square(&pooled),
    )
}

fn uniform(stats: &(Vec<f64>, f64)) -> bool {
    stats.0.iter().all(|x| *x < CRITICAL_9DF) && stats.1 < CRITICAL_9DF
}

#[test]
fn critical_value_is_the_p_one_in_a_million_point_of_chi_square_9() {
    // Q(4.5, x/2) by the series for the lower incomplete gamma: checks the
    // constant above rather than trusting a table.
    fn survival_9df(x: f64) -> f64 {
        let (a, z) = (4.5f64, x / 2.0);
        let (mut term, mut sum, mut n) = (1.0 / a, 1.0 / a, 0.0);
        while term > 1e-18 * sum {
            n += 1.0;
            term *= z / (a + n);
            sum += term;
        }
        // ln Γ(4.5) = ln(3.5 · 2.5 · 1.5 · 0.5 · √π)
        let ln_gamma = (3.5f64 * 2.5 * 1.5 * 0.5 * std::f64::consts::PI.sqrt()).ln();
        1.0 - (-z + a * z.ln() - ln_gamma).exp() * sum
    }
    let p = survival_9df(CRITICAL_9DF);
    assert!(p < 1e-6 && p > 1e-7, "p = {p}");
    assert!(survival_9df(44.0) > 1e-6);
}

#[test]
fn s1_os_rng_codes_are_uniform_in_every_position() {
    let stats = statistics(
        (0..CODES).map(|_| Code::generate(&mut OsRng, LENGTH as u8).digits().to_owned()),
    );
    assert!(
        uniform(&stats),
        "chi-square per position {:?}, pooled {} (critical {CRITICAL_9DF})",
        stats.0,
        stats.1
    );
}

/// The classic mistake: a random byte modulo 10 makes 0–5 come up 26/256 of
/// the time and 6–9 only 25/256.
fn modulo_biased_code(rng: &mut impl RngCore) -> String {
    (0..LENGTH)
        .map(|_| {
            let mut b = [0u8; 1];
            rng.fill_bytes(&mut b);
            char::from(b'0' + b[0] % 10)
        })
        .collect()
}

#[test]
fn the_check_catches_a_modulo_biased_generator() {
    // Seeded, so the result is fixed; the pooled statistic's expectation is
    // about 9 + 220 (noncentrality 600,000 · Σ(pᵢ − 0.1)²/0.1), far beyond 46.
    let mut rng = StdRng::seed_from_u64(2024);
    let stats = statistics((0..CODES).map(|_| modulo_biased_code(&mut rng)));
    assert!(!uniform(&stats), "bias not detected: {stats:?}");
    assert!(stats.1 > 2.0 * CRITICAL_9DF, "pooled {}", stats.1);
    // And the same seeded source without the bias passes: the failure above
    // is the bias, not the seed.
    let mut rng = StdRng::seed_from_u64(2024);
    let stats =
        statistics((0..CODES).map(|_| Code::generate(&mut rng, LENGTH as u8).digits().to_owned()));
    assert!(uniform(&stats), "{stats:?}");
}

#[test]
fn the_check_catches_a_stuck_digit() {
    // A generator whose last digit is always even.
    let mut rng = StdRng::seed_from_u64(7);
    let stats = statistics((0..CODES).map(|_| {
        let mut c = Code::generate(&mut rng, LENGTH as u8).digits().to_owned();
        let last = c.pop().unwrap();
        c.push(char::from(b'0' + (last as u8 - b'0') / 2 * 2));
        c
    }));
    assert!(stats.0[LENGTH - 1] > CRITICAL_9DF);
    assert!(!uniform(&stats));
}
