//! `pii/iban_code`: International Bank Account Numbers: ISO 3166 country code, two check digits
//! and the BBAN, compact (`GB29NWBK60161331926819`) or printed in groups of four
//! (`GB29 NWBK 6016 1331 9268 19`), with the exact length the IBAN registry gives the country and
//! the ISO 7064 mod-97 checksum (== 1). Letters must be all upper case or (text that was
//! lower-cased) all lower case; lower case scores a little lower.

use super::{IBAN_CODE, Scanner, at, ctx, is_word};

const VALID_UPPER: (f32, f32) = (0.95, 0.99);
const VALID_LOWER: (f32, f32) = (0.90, 0.94);

/// IBAN length per country: the SWIFT IBAN registry plus the countries that publish IBANs
/// outside it (sorted by country code).
#[rustfmt::skip]
const LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24), (b"AE", 23), (b"AL", 28), (b"AO", 25), (b"AT", 20), (b"AZ", 28), (b"BA", 20),
    (b"BE", 16), (b"BF", 28), (b"BG", 22), (b"BH", 22), (b"BI", 27), (b"BJ", 28), (b"BR", 29),
    (b"BY", 28), (b"CF", 27), (b"CG", 27), (b"CH", 21), (b"CI", 28), (b"CM", 27), (b"CR", 22),
    (b"CV", 25), (b"CY", 28), (b"CZ", 24), (b"DE", 22), (b"DJ", 27), (b"DK", 18), (b"DO", 28),
    (b"DZ", 26), (b"EE", 20), (b"EG", 29), (b"ES", 24), (b"FI", 18), (b"FK", 18), (b"FO", 18),
    (b"FR", 27), (b"GA", 27), (b"GB", 22), (b"GE", 22), (b"GI", 23), (b"GL", 18), (b"GQ", 27),
    (b"GR", 27), (b"GT", 28), (b"GW", 25), (b"HN", 28), (b"HR", 21), (b"HU", 28), (b"IE", 22),
    (b"IL", 23), (b"IQ", 23), (b"IR", 26), (b"IS", 26), (b"IT", 27), (b"JO", 30), (b"KM", 27),
    (b"KW", 30), (b"KZ", 20), (b"LB", 28), (b"LC", 32), (b"LI", 21), (b"LT", 20), (b"LU", 20),
    (b"LV", 21), (b"LY", 25), (b"MA", 28), (b"MC", 27), (b"MD", 24), (b"ME", 22), (b"MG", 27),
    (b"MK", 19), (b"ML", 28), (b"MN", 20), (b"MR", 27), (b"MT", 31), (b"MU", 30), (b"MZ", 25),
    (b"NE", 28), (b"NI", 28), (b"NL", 18), (b"NO", 15), (b"OM", 23), (b"PK", 24), (b"PL", 28),
    (b"PS", 29), (b"PT", 25), (b"QA", 29), (b"RO", 24), (b"RS", 22), (b"RU", 33), (b"SA", 24),
    (b"SC", 31), (b"SD", 18), (b"SE", 24), (b"SI", 19), (b"SK", 24), (b"SM", 27), (b"SN", 28),
    (b"SO", 23), (b"ST", 25), (b"SV", 28), (b"TD", 27), (b"TG", 28), (b"TL", 23), (b"TN", 24),
    (b"TR", 26), (b"UA", 29), (b"VA", 22), (b"VG", 24), (b"XK", 20), (b"YE", 30),
];

/// Longest IBAN in [`LENGTHS`].
const MAX_LEN: usize = 34;

fn country_length(cc: [u8; 2]) -> Option<usize> {
    LENGTHS
        .binary_search_by(|(code, _)| (*code).cmp(&cc))
        .ok()
        .and_then(|k| LENGTHS.get(k))
        .map(|(_, len)| *len)
}

/// An IBAN starting at `start` (two letters, then the digit that triggered the look). Returns
/// the end of an IBAN-shaped run (country code, check digits, the country's length), reported
/// only when its checksum is valid.
pub(super) fn try_iban(s: &mut Scanner<'_>, start: usize) -> Option<usize> {
    let b = s.bytes;
    let (c0, c1) = (at(b, start), at(b, start + 1));
    if !c0.is_ascii_alphabetic() || !c1.is_ascii_alphabetic() {
        return None;
    }
    let upper = c0.is_ascii_uppercase();
    if c1.is_ascii_uppercase() != upper {
        return None;
    }
    if !at(b, start + 2).is_ascii_digit() || !at(b, start + 3).is_ascii_digit() {
        return None;
    }
    let len = country_length([c0.to_ascii_uppercase(), c1.to_ascii_uppercase()])?;
    let mut chars = [0u8; MAX_LEN];
    let mut count = 0usize;
    let mut pos = start;
    let spaced = at(b, start + 4) == b' ';
    while count < len {
        let c = at(b, pos);
        if c.is_ascii_digit() || (c.is_ascii_alphabetic() && c.is_ascii_uppercase() == upper) {
            *chars.get_mut(count)? = c.to_ascii_uppercase();
            count += 1;
            pos += 1;
        } else if c == b' '
            && spaced
            && count.is_multiple_of(4)
            && at(b, pos + 1).is_ascii_alphanumeric()
        {
            pos += 1;
        } else {
            return None;
        }
    }
    if is_word(at(b, pos)) {
        return None;
    }
    if !mod97_is_one(chars.get(..len)?) {
        // IBAN-shaped but wrong: consumed, so its digits are not read as something else.
        return Some(pos);
    }
    let context = s.context(start, pos) & ctx::IBAN != 0;
    let class = if upper { VALID_UPPER } else { VALID_LOWER };
    s.push(
        IBAN_CODE,
        if context { class.1 } else { class.0 },
        start,
        pos,
    );
    Some(pos)
}

/// ISO 7064 MOD 97-10 over an upper-case IBAN: the first four characters moved to the end,
/// letters as 10..35.
fn mod97_is_one(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let (head, rest) = iban.split_at(4);
    let mut r: u32 = 0;
    for &c in rest.iter().chain(head) {
        r = match c {
            b'0'..=b'9' => (r * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (r * 100 + u32::from(c - b'A') + 10) % 97,
            _ => return false,
        };
    }
    r == 1
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(LENGTHS.iter().all(|(_, l)| *l <= MAX_LEN));
    }

    #[test]
    fn mod97() {
        assert!(mod97_is_one(b"GB29NWBK60161331926819"));
        assert!(!mod97_is_one(b"GB28NWBK60161331926819"));
        assert!(mod97_is_one(b"DE89370400440532013000"));
    }
}
