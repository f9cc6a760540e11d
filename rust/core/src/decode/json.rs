//! A minimal zero-copy JSON cursor for the decoders' fast path.
//!
//! It walks a message once, hands the caller each object member's key as raw bytes and lets it
//! read the values it needs (numbers, strings without escapes) and skip the rest. Anything it
//! does not handle (escaped strings where a value is read, numbers it cannot parse exactly,
//! nesting beyond [`MAX_DEPTH`]) makes it return `None`, and the decoders then fall back to the
//! `serde_json` path, which is the reference: both paths decode every message the same way (a
//! conformance test checks it).
//!
//! Numbers: integers and decimals with at most 15 significant digits and no exponent are
//! computed as `mantissa / 10^k`, which is exact in both operands and therefore correctly
//! rounded (Clinger's fast path); other numbers go through the standard library's parser.

/// Deepest nesting the cursor skips through.
pub const MAX_DEPTH: usize = 32;

const POW10: [f64; 23] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/// A position in a JSON text.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Cursor { b, i: 0 }
    }

    /// Byte offset.
    pub fn pos(&self) -> usize {
        self.i
    }

    /// Moves to byte offset `i`.
    pub fn seek(&mut self, i: usize) {
        self.i = i.min(self.b.len());
    }

    /// Skips whitespace.
    #[inline(always)]
    pub fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.i += 1;
        }
    }

    /// The next non-whitespace byte, not consumed.
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// Consumes `c` (after whitespace).
    #[inline(always)]
    pub fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Whether only whitespace remains.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// A string's raw bytes; `None` if it contains an escape (or is unterminated).
    #[inline(always)]
    pub fn str_raw(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = &self.b[start..];
        let end = rest.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[end] != b'"' {
            return None; // an escape or a control character: the reference parser decides
        }
        self.i = start + end + 1;
        Some(&rest[..end])
    }

    fn skip_str(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let c = *self.b.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return Some(()),
                b'\\' => self.i += 1,
                _ => {}
            }
        }
    }

    fn number_span(&mut self) -> Option<&'a [u8]> {
        self.ws();
        let start = self.i;
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                break;
            }
            self.i += 1;
        }
        (self.i > start).then(|| &self.b[start..self.i])
    }

    /// A number as `f64`.
    #[inline(always)]
    pub fn f64(&mut self) -> Option<f64> {
        self.ws();
        let start = self.i;
        let b = self.b;
        let mut i = start;
        let neg = b.get(i) == Some(&b'-');
        i += neg as usize;
        let first = i;
        let mut mant: u64 = 0;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            mant = mant.wrapping_mul(10).wrapping_add((c - b'0') as u64);
            i += 1;
        }
        let int_digits = i - first;
        let mut frac = 0usize;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let f0 = i;
            while let Some(&c) = b.get(i) {
                if !c.is_ascii_digit() {
                    break;
                }
                mant = mant.wrapping_mul(10).wrapping_add((c - b'0') as u64);
                i += 1;
            }
            frac = i - f0;
            if frac == 0 {
                return None;
            }
        }
        let simple =
            int_digits > 0 && int_digits + frac <= 15 && !(int_digits > 1 && b[first] == b'0') && !matches!(b.get(i), Some(b'e' | b'E' | b'+' | b'-' | b'.'));
        if simple {
            self.i = i;
            let v = mant as f64 / POW10[frac];
            return Some(if neg { -v } else { v });
        }
        let s = self.number_span()?;
        parse_f64(s)
    }

    /// An integer as `i64` (a number with a fraction or exponent is refused).
    #[inline(always)]
    pub fn i64(&mut self) -> Option<i64> {
        self.ws();
        let b = self.b;
        let mut i = self.i;
        let neg = b.get(i) == Some(&b'-');
        i += neg as usize;
        let first = i;
        let mut v: i64 = 0;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() || i - first >= 18 {
                break;
            }
            v = v * 10 + (c - b'0') as i64;
            i += 1;
        }
        let n = i - first;
        let clean = n > 0 && !(n > 1 && b[first] == b'0') && !matches!(b.get(i), Some(b'0'..=b'9' | b'e' | b'E' | b'+' | b'-' | b'.'));
        if clean {
            self.i = i;
            return Some(if neg { -v } else { v });
        }
        let s = self.number_span()?;
        parse_i64(s)
    }

    /// Skips one value of any type.
    pub fn skip(&mut self) -> Option<()> {
        self.skip_depth(0)
    }

    fn skip_depth(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.skip_str(),
            b'{' => {
                self.i += 1;
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_str()?;
                    self.eat(b':')?;
                    self.skip_depth(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_depth(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            _ => self.f64().map(|_| ()),
        }
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + w.len())? == w).then(|| self.i += w.len())
    }

    /// Walks an object: `member(key, cursor)` must consume the member's value.
    #[inline(always)]
    pub fn object(&mut self, mut member: impl FnMut(&'a [u8], &mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.str_raw()?;
            self.eat(b':')?;
            member(key, self)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// Parses a JSON number exactly as `f64`.
#[inline]
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit() {
        return None; // leading zero: not JSON
    }
    let mut mant: u64 = 0;
    let mut n_digits = 0usize;
    let mut frac: Option<usize> = None;
    let mut ok = !digits.is_empty();
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mant = mant.wrapping_mul(10).wrapping_add((c - b'0') as u64);
                n_digits += 1;
                if let Some(f) = frac.as_mut() {
                    *f += 1;
                }
            }
            b'.' if frac.is_none() => frac = Some(0),
            _ => {
                ok = false;
                break;
            }
        }
    }
    if ok && n_digits <= 15 && n_digits > 0 && frac != Some(0) {
        let k = frac.unwrap_or(0);
        let v = mant as f64 / POW10[k];
        return Some(if neg { -v } else { v });
    }
    // Exponents and long mantissas: serde_json's exact parser (it also enforces the grammar).
    serde_json::from_slice::<f64>(s).ok().filter(|v| v.is_finite())
}

/// Parses a JSON integer.
#[inline]
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    if digits.len() > 18 {
        return serde_json::from_slice::<i64>(s).ok();
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_std() {
        let cases = [
            "0",
            "1",
            "-1",
            "187.18",
            "187.1800",
            "0.31",
            "1e3",
            "-0.0",
            "123456789012345",
            "1234567890123456789",
            "0.1",
            "3.14159265358979",
            "",
            "-",
            "1.",
            "abc",
            "1.2.3",
            "01",
            "+1",
            "1e999",
            "2.5E-3",
        ];
        for s in cases {
            assert_eq!(parse_f64(s.as_bytes()), serde_json::from_str::<f64>(s).ok().filter(|v| v.is_finite()), "{s}");
        }
        assert_eq!(parse_i64(b"-42"), Some(-42));
        assert_eq!(parse_i64(b"4.2"), None);
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"007"), None);
    }

    #[test]
    fn walks_and_skips() {
        let text = br#" { "a" : [1, {"x":[true,false,null]}, "s\"q"], "b": -2.5e1, "c": "v" } "#;
        let mut c = Cursor::new(text);
        let mut seen = Vec::new();
        c.object(|k, c| {
            seen.push(k.to_vec());
            match k {
                b"b" => c.f64().map(|v| assert_eq!(v, -25.0)),
                b"c" => c.str_raw().map(|v| assert_eq!(v, b"v")),
                _ => c.skip(),
            }
        })
        .unwrap();
        assert!(c.at_end());
        assert_eq!(seen, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert!(Cursor::new(br#"{"a":1"#).object(|_, c| c.skip()).is_none());
        assert!(Cursor::new(br#"{"a\"":1}"#).object(|_, c| c.skip()).is_none());
    }
}
