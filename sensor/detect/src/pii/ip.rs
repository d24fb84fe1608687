//! `pii/ip_address`: IPv4 dotted quads (octets 0–255 without leading zeros, not part of a longer
//! dotted run such as a version `1.2.3.4.5`) and IPv6 addresses (full, `::`-compressed, with an
//! embedded IPv4 tail). Public addresses score high; private, loopback, link-local,
//! documentation, multicast and reserved ranges score low (developers paste `127.0.0.1:8080` and
//! `192.168.1.10` all day). A port (`:8080`), prefix length (`/24`) or zone (`%eth0`) after the
//! address is allowed and not part of the span. MAC-like `aa:bb:cc:dd:ee:ff:00:11`, times
//! `12:30:45` and Rust/C++ paths (`std::io`, `a::b::c`) are not addresses.

use super::{IP_ADDRESS, Scanner, at, ctx, is_word};

/// Public IPv4, global unicast IPv6 (2000::/3).
const PUBLIC: (f32, f32) = (0.85, 0.95);
/// A fully written IPv6 address outside 2000::/3 and the special ranges.
const OTHER_FULL_V6: (f32, f32) = (0.75, 0.85);
/// A compressed IPv6 address outside 2000::/3 and the special ranges (`a::b`, `1::2`).
const OTHER_COMPRESSED_V6: (f32, f32) = (0.35, 0.35);
/// RFC 1918, CGNAT, link-local, unique local.
const PRIVATE: (f32, f32) = (0.50, 0.55);
/// Documentation, benchmarking, multicast, reserved.
const RESERVED: (f32, f32) = (0.45, 0.50);
/// Loopback, unspecified.
const LOOPBACK: (f32, f32) = (0.40, 0.40);
/// `255.x.x.x`: a netmask, not an address.
const NETMASK: (f32, f32) = (0.30, 0.30);
/// Any IPv4 near "version", "release", "build" (and no address context).
const VERSION_LIKE: f32 = 0.30;
/// An IPv4 that reads like a section number or an OID (`1.2.3.4`, `2.5.29.15`, `4.2.1.13`:
/// first octet one digit, all under 100) without address context.
const SMALL_OCTETS_MAX: f32 = 0.60;

/// Parses a dotted quad at `start`: `(end, octets)`.
pub(super) fn parse_ipv4(b: &[u8], start: usize) -> Option<(usize, [u8; 4])> {
    let mut pos = start;
    let mut octets = [0u8; 4];
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if at(b, pos) != b'.' {
                return None;
            }
            pos += 1;
        }
        let ds = pos;
        let mut v: u32 = 0;
        while at(b, pos).is_ascii_digit() && pos - ds < 4 {
            v = v * 10 + u32::from(at(b, pos) - b'0');
            pos += 1;
        }
        let len = pos - ds;
        if len == 0 || len > 3 || (len > 1 && at(b, ds) == b'0') {
            return None;
        }
        *octet = u8::try_from(v).ok()?;
    }
    Some((pos, octets))
}

/// A dotted quad starting at the digit `i` (whose previous byte is no word byte).
pub(super) fn try_ipv4(s: &mut Scanner<'_>, i: usize) -> Option<usize> {
    let b = s.bytes;
    if i > 0 && at(b, i - 1) == b'.' {
        return None;
    }
    let (end, octets) = parse_ipv4(b, i)?;
    let r = at(b, end);
    if is_word(r) || (r == b'.' && at(b, end + 1).is_ascii_digit()) {
        return None;
    }
    let context = s.context(i, end);
    let address_context = context & ctx::IP != 0;
    let mut confidence = pick(classify_v4(octets), address_context);
    if !address_context {
        if context & ctx::VERSION != 0 {
            confidence = confidence.min(VERSION_LIKE);
        } else if octets[0] < 10 && octets.iter().all(|&o| o < 100) {
            confidence = confidence.min(SMALL_OCTETS_MAX);
        }
    }
    s.push(IP_ADDRESS, confidence, i, end);
    Some(end)
}

fn pick(class: (f32, f32), context: bool) -> f32 {
    if context { class.1 } else { class.0 }
}

fn classify_v4(o: [u8; 4]) -> (f32, f32) {
    match o {
        [0, ..] | [127, ..] => LOOPBACK,
        [255, ..] => NETMASK,
        [10, ..] | [192, 168, ..] | [169, 254, ..] => PRIVATE,
        [172, b, ..] if (16..=31).contains(&b) => PRIVATE,
        [100, b, ..] if (64..=127).contains(&b) => PRIVATE,
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] | [192, 0, 0, _] => RESERVED,
        [198, b, ..] if b == 18 || b == 19 => RESERVED,
        [a, ..] if a >= 224 => RESERVED,
        _ => PUBLIC,
    }
}

/// A `:` at `p` not consumed by an earlier candidate: an IPv6 address may start up to 4 hex
/// digits before it.
pub(super) fn at_colon(s: &mut Scanner<'_>, p: usize) -> usize {
    let b = s.bytes;
    let mut start = p;
    while start > 0 && p - start < 4 && at(b, start - 1).is_ascii_hexdigit() {
        start -= 1;
    }
    if start == p && at(b, p + 1) != b':' && !at(b, p + 1).is_ascii_hexdigit() {
        // `key: value`, `"a":"b"`, `http://`: nothing on either side.
        return p + 1;
    }
    try_ipv6(s, start).unwrap_or_else(|| {
        // Past the whole colon run (`::`): a later colon of it cannot start an address.
        let mut q = p + 1;
        while at(b, q) == b':' {
            q += 1;
        }
        q
    })
}

struct V6 {
    end: usize,
    groups: [u16; 8],
    compressed: bool,
}

fn hex_value(c: u8) -> u32 {
    match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'a'..=b'f' => u32::from(c - b'a' + 10),
        b'A'..=b'F' => u32::from(c - b'A' + 10),
        _ => 0,
    }
}

fn parse_ipv6(b: &[u8], start: usize) -> Option<V6> {
    let mut parsed = [0u16; 8];
    let mut n = 0usize;
    let mut gap: Option<usize> = None;
    let mut pos = start;
    let mut longest = 0usize;
    if at(b, pos) == b':' {
        if at(b, pos + 1) != b':' {
            return None;
        }
        gap = Some(0);
        pos += 2;
    }
    loop {
        let gs = pos;
        let mut v: u32 = 0;
        while at(b, pos).is_ascii_hexdigit() && pos - gs < 5 {
            v = v * 16 + hex_value(at(b, pos));
            pos += 1;
        }
        let len = pos - gs;
        if len == 0 {
            break;
        }
        if len > 4 {
            return None;
        }
        if at(b, pos) == b'.' {
            // Embedded IPv4 tail.
            if n > 6 {
                return None;
            }
            let (end4, o) = parse_ipv4(b, gs)?;
            *parsed.get_mut(n)? = u16::from(o[0]) << 8 | u16::from(o[1]);
            *parsed.get_mut(n + 1)? = u16::from(o[2]) << 8 | u16::from(o[3]);
            n += 2;
            pos = end4;
            longest = 4;
            break;
        }
        *parsed.get_mut(n)? = u16::try_from(v).ok()?;
        n += 1;
        longest = longest.max(len);
        if at(b, pos) == b':' {
            if at(b, pos + 1) == b':' {
                if gap.is_some() {
                    break;
                }
                gap = Some(n);
                pos += 2;
                continue;
            }
            if at(b, pos + 1).is_ascii_hexdigit() {
                pos += 1;
                continue;
            }
        }
        break;
    }
    if n == 0 {
        return None;
    }
    let groups = match gap {
        None => {
            // Eight groups of at most two hex digits: a MAC/EUI-64 or a list, not an address.
            if n != 8 || longest <= 2 {
                return None;
            }
            parsed
        }
        Some(g) => {
            if n > 7 || g > n {
                return None;
            }
            let mut full = [0u16; 8];
            let tail = n - g;
            full[..g].copy_from_slice(&parsed[..g]);
            full[8 - tail..].copy_from_slice(&parsed[g..n]);
            full
        }
    };
    Some(V6 {
        end: pos,
        groups,
        compressed: gap.is_some(),
    })
}

/// An IPv6 address starting at `start`.
pub(super) fn try_ipv6(s: &mut Scanner<'_>, start: usize) -> Option<usize> {
    let b = s.bytes;
    if start > 0 {
        let prev = at(b, start - 1);
        if is_word(prev) || matches!(prev, b':' | b'.' | b'-') {
            return None;
        }
    }
    let v6 = parse_ipv6(b, start)?;
    let r = at(b, v6.end);
    if is_word(r) || r == b':' || (r == b'.' && at(b, v6.end + 1).is_ascii_digit()) {
        return None;
    }
    let class = classify_v6(&v6);
    let context = s.context(start, v6.end) & ctx::IP != 0;
    s.push(IP_ADDRESS, pick(class, context), start, v6.end);
    Some(v6.end)
}

fn classify_v6(v6: &V6) -> (f32, f32) {
    let g = v6.groups;
    if g[..7].iter().all(|&x| x == 0) && g[7] <= 1 {
        return LOOPBACK;
    }
    if g[..5].iter().all(|&x| x == 0) && g[5] == 0xffff {
        let o = [
            (g[6] >> 8) as u8,
            (g[6] & 0xff) as u8,
            (g[7] >> 8) as u8,
            (g[7] & 0xff) as u8,
        ];
        return classify_v4(o);
    }
    if g[0] & 0xffc0 == 0xfe80 || g[0] & 0xfe00 == 0xfc00 {
        return PRIVATE;
    }
    if g[0] & 0xff00 == 0xff00 || (g[0] == 0x2001 && g[1] == 0x0db8) {
        return RESERVED;
    }
    if g[0] & 0xe000 == 0x2000 {
        return PUBLIC;
    }
    if v6.compressed {
        OTHER_COMPRESSED_V6
    } else {
        OTHER_FULL_V6
    }
}
