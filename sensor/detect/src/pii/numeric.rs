//! Number chains: `pii/credit_card`, `pii/us_social_security_number` and `pii/phone_number`.
//!
//! A *chain* is a run of digit groups joined by single spaces, dashes or dots, with optional
//! parenthesised groups (`(415)`, `(0)`), an optional leading `+` and an optional phone extension
//! (`x123`, `ext. 123`). Its *segments* are the parts between spaces. A segment glued to another
//! token (`12/25`, `10:30`, `v2`, `1,000`, `id-42`, `a@`) is dropped at either end. What remains
//! is read as whole segments, longest first from the left (at most 8 groups at a time), each
//! window tried as, in order:
//!
//! 1. a card number: 12–19 digits, one group or card grouping (4-4-4-4, 4-6-5, 4-6-4, …), one
//!    separator kind, Luhn-valid, not all one digit, and a brand prefix with a length valid for it
//!    (Visa, Mastercard incl. 2-series, Amex, Discover, JCB, Diners, UnionPay, Mir, Maestro);
//! 2. an SSN: `AAA-GG-SSSS` (or with spaces / bare 9 digits with SSN context) following the SSA
//!    rules: area not 000, 666 or 900–999, group not 00, serial not 0000, not one repeated digit,
//!    not a known advertising/invalid number. A dashed 3-2-4 that breaks them is nothing at all;
//!    spaced or dotted 3-2-4 and bare 9 digits need SSN context;
//! 3. a phone number: `+CC …` with a valid ITU country code (or `00CC …`), NANP (area code and
//!    exchange 2–9, not N11) with an optional `1`/`+1` prefix, or — only with phone context — a
//!    loose national format (2–6 groups, 7–12 digits, not a date, not dotted thousands) or a
//!    10–11 digit number with a trunk `0`.

use super::{CREDIT_CARD, PHONE_NUMBER, Scanner, US_SSN, at, ctx, is_word};

const MAX_GROUPS: usize = 24;
const MAX_WINDOW_GROUPS: usize = 8;
const MAX_GROUP_DIGITS: usize = 19;
const MAX_DIGITS: usize = 40;

// Card confidences (no context, with card context).
const CARD_STRONG: f32 = 0.80;
const CARD_STRONG_GROUPED: f32 = 0.85;
const CARD_STRONG_CONTEXT: f32 = 0.95;
const CARD_WEAK: (f32, f32) = (0.65, 0.90);
const CARD_FAINT: (f32, f32) = (0.45, 0.85);
const CARD_NO_BRAND_CONTEXT: f32 = 0.60;

// SSN confidences.
const SSN_DASHED: (f32, f32) = (0.70, 0.95);
const SSN_SPACED_CONTEXT: f32 = 0.85;
const SSN_BARE_CONTEXT: f32 = 0.60;

// Phone confidences: (no context, with phone context); 0 = only with context.
const PHONE_INTERNATIONAL: (f32, f32) = (0.75, 0.95);
const PHONE_INTERNATIONAL_00: (f32, f32) = (0.55, 0.80);
/// Taken off `+1`/`001` numbers whose area code or exchange is not a NANP one.
const PHONE_NOT_NANP_PENALTY: f32 = 0.25;
const PHONE_NANP_DASH_OR_PAREN: (f32, f32) = (0.75, 0.95);
const PHONE_NANP_DOT: (f32, f32) = (0.65, 0.85);
const PHONE_NANP_SPACE: (f32, f32) = (0.60, 0.80);
const PHONE_NANP_BARE: (f32, f32) = (0.0, 0.60);
const PHONE_NANP_PREFIX_BONUS: f32 = 0.05;
const PHONE_NATIONAL: (f32, f32) = (0.0, 0.60);
const PHONE_NATIONAL_MARKED: (f32, f32) = (0.0, 0.65);
/// Any phone reading right after a phone label (`Phone: `, `call me at `).
const PHONE_LABELLED: f32 = 0.75;

/// Known invalid or advertising SSNs (Woolworth wallet card, Social Security cards in ads...).
const INVALID_SSNS: &[&[u8; 9]] = &[
    b"078051120",
    b"219099999",
    b"123456789",
    b"457555462",
    b"111223333",
];

const SPACE: u8 = 1;
const DASH: u8 = 2;
const DOT: u8 = 4;
const NONE: u8 = 8;

#[derive(Clone, Copy, Debug, Default)]
struct Group {
    /// Span, including `(`/`)` and a leading `+`.
    start: usize,
    end: usize,
    /// The digits.
    dstart: usize,
    dend: usize,
    /// Separator before the group: 0 (first group, or right after `)`), b' ', b'-', b'.'.
    sep: u8,
    paren: bool,
}

impl Group {
    fn len(&self) -> usize {
        self.dend - self.dstart
    }
}

struct Chain {
    groups: [Group; MAX_GROUPS],
    n: usize,
    plus: bool,
    end: usize,
    ext_end: Option<usize>,
    /// A group after the last one was too long to be part of it.
    cut: bool,
    /// More groups than a window (a table or list of numbers): readings joined only by spaces
    /// need context.
    long_run: bool,
}

struct Found {
    kind: &'static str,
    confidence: f32,
    start: usize,
    end: usize,
}

/// Context looked up once per chain, when first needed.
struct LazyContext {
    start: usize,
    end: usize,
    value: Option<u16>,
}

impl LazyContext {
    fn get(&mut self, s: &Scanner<'_>) -> u16 {
        *self
            .value
            .get_or_insert_with(|| s.context(self.start, self.end))
    }
}

fn digit_run_end(b: &[u8], mut i: usize) -> usize {
    while at(b, i).is_ascii_digit() {
        i += 1;
    }
    i
}

/// A group at `pos`: digits, or `(` 1–4 digits `)`. `None` if a `(` is not closed.
fn parse_group(b: &[u8], pos: usize, sep: u8) -> Option<Group> {
    if at(b, pos) == b'(' {
        let dend = digit_run_end(b, pos + 1);
        let len = dend - (pos + 1);
        if !(1..=4).contains(&len) || at(b, dend) != b')' {
            return None;
        }
        return Some(Group {
            start: pos,
            end: dend + 1,
            dstart: pos + 1,
            dend,
            sep,
            paren: true,
        });
    }
    let dend = digit_run_end(b, pos);
    (dend > pos).then_some(Group {
        start: pos,
        end: dend,
        dstart: pos,
        dend,
        sep,
        paren: false,
    })
}

/// Parses the chain whose first digit is at `i`. `Err(resume)` when the first group is a digit
/// run too long to be anything here.
fn parse_chain(b: &[u8], i: usize) -> Result<Chain, usize> {
    let mut first = None;
    if i > 0 && at(b, i - 1) == b'(' {
        first = parse_group(b, i - 1, 0);
    }
    let mut first = match first {
        Some(g) => g,
        None => parse_group(b, i, 0).ok_or(i + 1)?,
    };
    if first.len() > MAX_GROUP_DIGITS {
        return Err(first.dend);
    }
    let mut plus = false;
    if first.start > 0
        && at(b, first.start - 1) == b'+'
        && (first.start < 2 || !is_word(at(b, first.start - 2)))
    {
        plus = true;
        first.start -= 1;
    }
    let mut chain = Chain {
        groups: [Group::default(); MAX_GROUPS],
        n: 1,
        plus,
        end: first.end,
        ext_end: None,
        cut: false,
        long_run: false,
    };
    chain.groups[0] = first;
    let mut last = first;
    while chain.n < MAX_GROUPS {
        let pos = last.end;
        let c0 = at(b, pos);
        let (sep, gpos) = if last.paren && c0.is_ascii_digit() {
            (0, pos)
        } else if matches!(c0, b' ' | b'-' | b'.') {
            let c1 = at(b, pos + 1);
            if c1.is_ascii_digit() || (c0 == b' ' && c1 == b'(' && at(b, pos + 2).is_ascii_digit())
            {
                (c0, pos + 1)
            } else {
                break;
            }
        } else if c0 == b'(' && chain.n == 1 && plus && at(b, pos + 1).is_ascii_digit() {
            (0, pos)
        } else {
            break;
        };
        let Some(g) = parse_group(b, gpos, sep) else {
            break;
        };
        if g.len() > MAX_GROUP_DIGITS {
            chain.cut = true;
            break;
        }
        if let Some(slot) = chain.groups.get_mut(chain.n) {
            *slot = g;
        }
        chain.n += 1;
        last = g;
    }
    if chain.n == MAX_GROUPS {
        chain.cut = true;
    }
    chain.end = last.end;
    chain.ext_end = extension(b, chain.end);
    Ok(chain)
}

/// A phone extension right after `end`: `x123`, ` x 123`, `ext. 123`, ` extension 123`.
fn extension(b: &[u8], end: usize) -> Option<usize> {
    let lower = |k: usize| at(b, k).to_ascii_lowercase();
    let mut p = end;
    if at(b, p) == b' ' {
        p += 1;
    }
    let mut q = if lower(p) == b'x' {
        p + 1
    } else if lower(p) == b'e' && lower(p + 1) == b'x' && lower(p + 2) == b't' {
        let mut q = p + 3;
        if b.get(q..q + 6)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"ension"))
        {
            q += 6;
        }
        if at(b, q) == b'.' {
            q += 1;
        }
        q
    } else {
        return None;
    };
    if at(b, q) == b' ' {
        q += 1;
    }
    let dend = digit_run_end(b, q);
    ((1..=6).contains(&(dend - q)) && !is_word(at(b, dend))).then_some(dend)
}

/// The token before `start` continues into the chain (`1.`, `10:`, `1,`, `v-`, `a/`, `x@`).
fn left_glued(b: &[u8], start: usize) -> bool {
    if start == 0 {
        return false;
    }
    let p = at(b, start - 1);
    let pp = if start >= 2 { at(b, start - 2) } else { 0 };
    match p {
        b'.' | b':' | b',' => pp.is_ascii_digit(),
        // A minus sign, or a token joined with `-`.
        b'-' => true,
        b'/' | b'@' | b'+' | b'_' => pp.is_ascii_alphanumeric(),
        _ => is_word(p),
    }
}

/// The chain continues into the token after `end` (`…7x`, `…7@`, `…7:30`, `…7/25`, `…7.5`).
fn right_glued(b: &[u8], end: usize) -> bool {
    let r = at(b, end);
    if is_word(r) || r == b'@' {
        return true;
    }
    matches!(r, b'.' | b':' | b',' | b'/' | b'-') && at(b, end + 1).is_ascii_digit()
}

/// A digit at `i` that starts no other candidate: its chain. Returns where to go on.
pub(super) fn scan_chain(s: &mut Scanner<'_>, i: usize) -> usize {
    let b = s.bytes;
    // Fast path, the common case in code and prose: a short digit run that no separator,
    // parenthesis or `+` joins to more digits can be nothing.
    let run_end = digit_run_end(b, i);
    if run_end - i < 9 && !matches!(at(b, i.wrapping_sub(1)), b'(' | b'+') {
        let c0 = at(b, run_end);
        let c1 = at(b, run_end + 1);
        let joined = matches!(c0, b' ' | b'-' | b'.') && (c1.is_ascii_digit() || c1 == b'(');
        if !joined {
            return run_end;
        }
    }
    let mut chain = match parse_chain(b, i) {
        Ok(c) => c,
        Err(resume) => return resume,
    };
    let resume = chain.ext_end.unwrap_or(chain.end);
    // One short group (the common case in code and prose) can be nothing.
    if chain.n == 1 && chain.groups[0].len() < 9 {
        return resume;
    }
    let glued_left = left_glued(b, chain.groups[0].start);
    let glued_right = chain.cut || (chain.ext_end.is_none() && right_glued(b, chain.end));
    let mut seg = [0usize; MAX_GROUPS + 1];
    let mut nseg = 0usize;
    for (k, g) in chain.groups.iter().take(chain.n).enumerate() {
        if k == 0 || g.sep == b' ' {
            seg[nseg] = k;
            nseg += 1;
        }
    }
    seg[nseg] = chain.n;
    let lo = usize::from(glued_left);
    let hi = if glued_right {
        nseg.saturating_sub(1)
    } else {
        nseg
    };
    chain.long_run = lo < hi && seg[hi] - seg[lo] > MAX_WINDOW_GROUPS;
    let mut context = LazyContext {
        start: chain.groups[0].start,
        end: resume,
        value: None,
    };
    let mut k = lo;
    while k < hi {
        let Some((m, found)) = longest_from(s, &chain, &seg, k, hi, &mut context) else {
            k += 1;
            continue;
        };
        // A stronger reading starting one segment later wins over a weak one that swallows it
        // (`2023 415 555 2671`).
        if m > k + 1
            && let Some((_, later)) = longest_from(s, &chain, &seg, k + 1, hi, &mut context)
            && later.confidence > found.confidence + 0.05
        {
            k += 1;
            continue;
        }
        s.push(found.kind, found.confidence, found.start, found.end);
        k = m;
    }
    resume
}

/// The longest window of whole segments starting at segment `k` that reads as something.
fn longest_from(
    s: &Scanner<'_>,
    chain: &Chain,
    seg: &[usize; MAX_GROUPS + 1],
    k: usize,
    hi: usize,
    context: &mut LazyContext,
) -> Option<(usize, Found)> {
    let a = seg[k];
    for m in (k + 1..=hi).rev() {
        let e = seg[m];
        if e - a > MAX_WINDOW_GROUPS {
            continue;
        }
        if let Some(found) = interpret(s, chain, a, e, context) {
            return Some((m, found));
        }
    }
    None
}

/// Reads groups `a..e` of the chain as a card, an SSN or a phone number.
fn interpret(
    s: &Scanner<'_>,
    chain: &Chain,
    a: usize,
    e: usize,
    context: &mut LazyContext,
) -> Option<Found> {
    let b = s.bytes;
    let g = chain.groups.get(a..e)?;
    let (first, last) = (g.first()?, g.last()?);
    let plus = a == 0 && chain.plus;
    let mut buf = [0u8; MAX_DIGITS];
    let mut d = 0usize;
    for grp in g {
        for &c in b.get(grp.dstart..grp.dend)? {
            *buf.get_mut(d)? = c - b'0';
            d += 1;
        }
    }
    let digits = buf.get(..d)?;
    let mut seps = 0u8;
    for grp in g.iter().skip(1) {
        seps |= match grp.sep {
            b' ' => SPACE,
            b'-' => DASH,
            b'.' => DOT,
            _ => NONE,
        };
    }
    let parens = g.iter().any(|x| x.paren);
    let start = first.start;
    let end = last.end;
    let found = |kind, confidence| Found {
        kind,
        confidence,
        start,
        end,
    };
    let all_same = digits.iter().all(|&x| Some(&x) == digits.first());
    // Groups joined only by spaces inside a long run of numbers (`… 384 512 768 1024 …`).
    let listed = chain.long_run && seps == SPACE && !plus && !parens;

    // 1. Card number.
    if !plus
        && !parens
        && (seps & (DOT | NONE)) == 0
        && seps != SPACE | DASH
        && (12..=19).contains(&d)
        && card_grouping(g)
        && luhn(digits)
        && !all_same
    {
        let with_context = context.get(s) & ctx::CARD != 0;
        let mut brand = card_brand(digits);
        if listed && !with_context {
            brand = None;
        }
        // An element of a list of numbers (`(5503284107318959, 446)`, u64 tables) is data.
        if !with_context && brand.is_some() && in_number_list(b, start, end) {
            brand = Some(Brand::Faint);
        }
        let confidence = match (brand, with_context) {
            (Some(Brand::Strong), true) => CARD_STRONG_CONTEXT,
            (Some(Brand::Strong), false) if g.len() > 1 => CARD_STRONG_GROUPED,
            (Some(Brand::Strong), false) => CARD_STRONG,
            (Some(Brand::Weak), c) => pick(CARD_WEAK, c),
            (Some(Brand::Faint), c) => pick(CARD_FAINT, c),
            (None, true) => CARD_NO_BRAND_CONTEXT,
            (None, false) => 0.0,
        };
        if confidence > 0.0 {
            return Some(found(CREDIT_CARD, confidence));
        }
    }

    // 2. SSN.
    if !plus && !parens && d == 9 {
        let valid = ssn_valid(digits);
        let lens_324 = g.len() == 3 && g[0].len() == 3 && g[1].len() == 2 && g[2].len() == 4;
        if lens_324 && seps == DASH {
            if !valid {
                return None;
            }
            let c = context.get(s) & ctx::SSN != 0;
            return Some(found(US_SSN, pick(SSN_DASHED, c)));
        }
        let spaced_or_dotted = seps == SPACE || seps == DOT;
        if valid
            && ((lens_324 && spaced_or_dotted) || g.len() == 1)
            && context.get(s) & ctx::SSN != 0
        {
            let confidence = if g.len() == 1 {
                SSN_BARE_CONTEXT
            } else {
                SSN_SPACED_CONTEXT
            };
            return Some(found(US_SSN, confidence));
        }
    }

    // 3. Phone number.
    if all_same || listed {
        return None;
    }
    let (plain, with_context) = phone_shape(g, digits, seps, plus)?;
    let found_context = context.get(s);
    let confidence = if found_context & ctx::PHONE_LABEL != 0 {
        with_context.max(PHONE_LABELLED)
    } else if found_context & ctx::PHONE != 0 {
        with_context
    } else {
        plain
    };
    if confidence <= 0.0 {
        return None;
    }
    let end = match chain.ext_end {
        Some(x) if e == chain.n => x,
        _ => end,
    };
    Some(Found {
        kind: PHONE_NUMBER,
        confidence,
        start,
        end,
    })
}

fn pick(pair: (f32, f32), context: bool) -> f32 {
    if context { pair.1 } else { pair.0 }
}

/// `start..end` is one item of a comma- or semicolon-separated list of numbers.
fn in_number_list(b: &[u8], start: usize, end: usize) -> bool {
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let mut q = end;
    while space(at(b, q)) && q - end < 16 {
        q += 1;
    }
    if matches!(at(b, q), b',' | b';') {
        q += 1;
        while space(at(b, q)) && q - end < 32 {
            q += 1;
        }
        if at(b, q).is_ascii_digit() || (at(b, q) == b'-' && at(b, q + 1).is_ascii_digit()) {
            return true;
        }
    }
    let mut p = start;
    while p > 0 && space(at(b, p - 1)) && start - p < 16 {
        p -= 1;
    }
    if p > 0 && matches!(at(b, p - 1), b',' | b';') {
        p -= 1;
        while p > 0 && space(at(b, p - 1)) && start - p < 32 {
            p -= 1;
        }
        return p > 0 && at(b, p - 1).is_ascii_digit();
    }
    false
}

/// Card groupings: one group, 4-4-…-(1..4), Amex 4-6-5, Diners 4-6-4.
fn card_grouping(g: &[Group]) -> bool {
    match g {
        [_] => true,
        [a, b, c] if a.len() == 4 && b.len() == 6 && (c.len() == 5 || c.len() == 4) => true,
        [rest @ .., last] => {
            rest.len() >= 2 && rest.iter().all(|x| x.len() == 4) && (1..=4).contains(&last.len())
        }
        [] => false,
    }
}

/// Luhn mod-10.
fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Brand {
    /// A major brand's usual length: Visa 16, Mastercard 16, Mir 16, Amex 15, Discover 16,
    /// JCB 16, Diners 14, UnionPay 16.
    Strong,
    /// A valid, less usual length: Visa 13, Diners 16.
    Weak,
    /// Valid but as often some other long number: 17–19 digits, Maestro (12–19), Diners 15,
    /// old 15-digit JCB (2131, 1800).
    Faint,
}

fn prefix(digits: &[u8], k: usize) -> u32 {
    digits
        .iter()
        .take(k)
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
}

fn card_brand(digits: &[u8]) -> Option<Brand> {
    use Brand::{Faint, Strong, Weak};
    let n = digits.len();
    let (p1, p2, p3, p4, p6) = (
        prefix(digits, 1),
        prefix(digits, 2),
        prefix(digits, 3),
        prefix(digits, 4),
        prefix(digits, 6),
    );
    let by_len = |usual: usize, other: std::ops::RangeInclusive<usize>| {
        if n == usual {
            Some(Strong)
        } else if other.contains(&n) {
            Some(Faint)
        } else {
            None
        }
    };
    if p1 == 4 {
        // Visa
        return match n {
            16 => Some(Strong),
            13 => Some(Weak),
            19 => Some(Faint),
            _ => None,
        };
    }
    if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) || (2200..=2204).contains(&p4) {
        // Mastercard, Mir
        return (n == 16).then_some(Strong);
    }
    if p2 == 34 || p2 == 37 {
        // Amex
        return (n == 15).then_some(Strong);
    }
    if p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622_126..=622_925).contains(&p6) {
        // Discover
        return by_len(16, 17..=19);
    }
    if (3528..=3589).contains(&p4) {
        // JCB
        return by_len(16, 17..=19);
    }
    if p4 == 2131 || p4 == 1800 {
        // JCB, 15 digits
        return (n == 15).then_some(Faint);
    }
    if (300..=305).contains(&p3) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39 {
        // Diners Club
        return match n {
            14 => Some(Strong),
            16 => Some(Weak),
            15..=19 => Some(Faint),
            _ => None,
        };
    }
    if p2 == 62 {
        // UnionPay
        return by_len(16, 17..=19);
    }
    if p2 == 50 || (56..=69).contains(&p2) {
        // Maestro
        return (12..=19).contains(&n).then_some(Faint);
    }
    None
}

/// SSA rules for a 9-digit SSN.
fn ssn_valid(digits: &[u8]) -> bool {
    if digits.len() != 9 {
        return false;
    }
    let area = prefix(digits, 3);
    let group = prefix(&digits[3..], 2);
    let serial = prefix(&digits[5..], 4);
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    if digits.iter().all(|&x| x == digits[0]) {
        return false;
    }
    !INVALID_SSNS.iter().any(|bad| {
        bad.iter()
            .zip(digits)
            .all(|(&c, &d)| c.wrapping_sub(b'0') == d)
    })
}

/// Phone readings of a window: (confidence without, with phone context), 0 = not without.
fn phone_shape(g: &[Group], digits: &[u8], seps: u8, plus: bool) -> Option<(f32, f32)> {
    let d = digits.len();
    let first = g.first()?;
    let mixed_dots = seps & DOT != 0 && seps != DOT;
    if mixed_dots {
        return None;
    }
    if plus {
        // `+CC …`; a `(0)` trunk group after the country code does not count.
        let mut national = [0u8; MAX_DIGITS];
        let mut n = 0usize;
        let mut pos = 0usize;
        for (k, grp) in g.iter().enumerate() {
            let len = grp.len();
            let part = digits.get(pos..pos + len)?;
            pos += len;
            if k > 0 && grp.paren && part.iter().all(|&x| x == 0) {
                continue;
            }
            for &x in part {
                *national.get_mut(n)? = x;
                n += 1;
            }
        }
        return international(national.get(..n)?, first.len(), PHONE_INTERNATIONAL);
    }
    // `00CC …`
    if g.len() >= 2
        && !first.paren
        && first.len() >= 3
        && digits.first() == Some(&0)
        && digits.get(1) == Some(&0)
        && digits.get(2) != Some(&0)
        && let Some(shape) =
            international(digits.get(2..)?, first.len() - 2, PHONE_INTERNATIONAL_00)
    {
        return Some(shape);
    }
    // NANP, optional `1` prefix.
    let (prefixed, rest, rest_digits) =
        if g.len() >= 2 && !first.paren && first.len() == 1 && digits.first() == Some(&1) {
            (true, g.get(1..)?, digits.get(1..)?)
        } else {
            (false, g, digits)
        };
    if rest_digits.len() == 10 && nanp_valid(rest_digits) {
        let lens: [usize; 3] = match rest {
            [x, y, z] => [x.len(), y.len(), z.len()],
            _ => [0; 3],
        };
        let mut rest_seps = 0u8;
        for grp in rest.iter().skip(1) {
            rest_seps |= match grp.sep {
                b' ' => SPACE,
                b'-' => DASH,
                b'.' => DOT,
                _ => NONE,
            };
        }
        let shape = if rest.len() == 1 {
            Some(PHONE_NANP_BARE)
        } else if lens == [3, 3, 4] && rest[0].paren {
            Some(PHONE_NANP_DASH_OR_PAREN)
        } else if lens == [3, 3, 4] && !rest.iter().any(|x| x.paren) {
            match rest_seps {
                DASH => Some(PHONE_NANP_DASH_OR_PAREN),
                DOT => Some(PHONE_NANP_DOT),
                SPACE => Some(PHONE_NANP_SPACE),
                _ => None,
            }
        } else {
            None
        };
        if let Some((plain, with_context)) = shape {
            let bonus = if prefixed {
                PHONE_NANP_PREFIX_BONUS
            } else {
                0.0
            };
            let plain = if plain > 0.0 { plain + bonus } else { 0.0 };
            return Some((plain, with_context + bonus));
        }
    }
    // Loose national formats: only with context.
    if g.len() == 1 {
        // `07911123456`: a trunk `0` and a national number.
        let trunk = digits.first() == Some(&0) && digits.get(1) != Some(&0);
        return (trunk && (10..=11).contains(&d)).then_some(PHONE_NATIONAL_MARKED);
    }
    if g.len() > 6 || !(7..=12).contains(&d) {
        return None;
    }
    // Dotted: 3+ groups of 2+ digits (`06.12.34.56.78`), never a decimal (`3.14159`) or
    // thousands (`35.000.000`).
    if seps == DOT && (g.len() < 3 || first.len() < 2 || g.iter().skip(1).all(|x| x.len() == 3)) {
        return None;
    }
    // Without a trunk `0` or a parenthesised area code, a first group of 5 digits is more often
    // a house number or a code than a phone number.
    let marked = first.paren || digits.first() == Some(&0);
    let first_max = if marked { 5 } else { 4 };
    if first.len() > first_max || g.iter().skip(1).any(|x| !(2..=8).contains(&x.len())) {
        return None;
    }
    if date_like(g, digits) {
        return None;
    }
    Some(if marked {
        PHONE_NATIONAL_MARKED
    } else {
        PHONE_NATIONAL
    })
}

/// Country code + national number (`digits` after `+`/`00`); `first_len` digits of them were in
/// the first group, which must hold the whole country code.
fn international(digits: &[u8], first_len: usize, shape: (f32, f32)) -> Option<(f32, f32)> {
    let cc_len = country_code_len(digits)?;
    if first_len < cc_len {
        return None;
    }
    let national = digits.get(cc_len..)?;
    if cc_len == 1 && digits.first() == Some(&1) {
        if national.len() != 10 {
            return None;
        }
        // Written as a phone number (`+1-984-182-0190`) but not a dialable NANP one.
        return Some(if nanp_valid(national) {
            shape
        } else {
            (
                shape.0 - PHONE_NOT_NANP_PENALTY,
                shape.1 - PHONE_NOT_NANP_PENALTY,
            )
        });
    }
    let total = digits.len();
    ((6..=13).contains(&national.len()) && total <= 15).then_some(shape)
}

/// NANP: area code and exchange start with 2–9 and are not N11.
fn nanp_valid(d: &[u8]) -> bool {
    if d.len() != 10 {
        return false;
    }
    let ok = |x: &[u8]| x[0] >= 2 && !(x[1] == 1 && x[2] == 1);
    ok(&d[0..3]) && ok(&d[3..6])
}

/// Dates written with separators: yyyy-mm-dd, dd-mm-yyyy, mm-dd-yyyy.
fn date_like(g: &[Group], digits: &[u8]) -> bool {
    if g.len() != 3 {
        return false;
    }
    let lens = [g[0].len(), g[1].len(), g[2].len()];
    let year = |x: u32| (1900..=2099).contains(&x);
    let day = |x: u32| (1..=31).contains(&x);
    let month = |x: u32| (1..=12).contains(&x);
    match lens {
        [4, 2, 2] => {
            year(prefix(digits, 4))
                && month(prefix(&digits[4..], 2))
                && day(prefix(&digits[6..], 2))
        }
        [2, 2, 4] => {
            let (x, y) = (prefix(digits, 2), prefix(&digits[2..], 2));
            year(prefix(&digits[4..], 4)) && day(x) && day(y) && (month(x) || month(y))
        }
        _ => false,
    }
}

/// Length of the ITU-T E.164 country calling code that `digits` starts with.
fn country_code_len(digits: &[u8]) -> Option<usize> {
    let p = |k| prefix(digits, k);
    if digits.len() < 4 {
        return None;
    }
    match digits[0] {
        0 => None,
        1 | 7 => Some(1),
        _ => {
            let two = p(2);
            if TWO_DIGIT_CODES.contains(&two) {
                return Some(2);
            }
            let three = p(3);
            THREE_DIGIT_CODES
                .iter()
                .any(|r| r.contains(&three))
                .then_some(3)
        }
    }
}

const TWO_DIGIT_CODES: &[u32] = &[
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56,
    57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
];

const THREE_DIGIT_CODES: &[std::ops::RangeInclusive<u32>] = &[
    211..=213,
    216..=216,
    218..=218,
    220..=258,
    260..=269,
    290..=291,
    297..=299,
    350..=359,
    370..=378,
    380..=383,
    385..=387,
    389..=389,
    420..=421,
    423..=423,
    500..=509,
    590..=599,
    670..=670,
    672..=692,
    800..=800,
    808..=808,
    850..=850,
    852..=853,
    855..=856,
    870..=870,
    878..=883,
    886..=886,
    888..=888,
    960..=968,
    970..=977,
    979..=979,
    992..=998,
];
